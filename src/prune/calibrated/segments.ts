/**
 * Sequential calibration in segments, as the reference code runs it: the calibration windows
 * go through the model one layer group at a time, and each group's inputs are the cached
 * outputs of the group before it as pruned. Each layer is run twice per window (once with its
 * dense weights for the Hessians, once pruned to feed the next), instead of the whole model
 * once per layer; and the target weights are fed to each segment from the arrays being
 * pruned, so no copy of the model's weights is ever serialized or held beside them.
 *
 * The graph is cut in its topological order at the first node that reads each group's
 * weights. What crosses a cut (hidden states, masks, the encoder's output) is cached per
 * window; each segment is the smallest subgraph that computes what is asked of it from the
 * cut before it.
 */
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, type NodeProto, type TensorProto, type ValueInfoProto } from "onnx-buf";
import type * as ort from "onnxruntime-node";
import { createSession, Tensor } from "../../eval/session.ts";
import { DataType } from "../../onnx/dtype.ts";
import { consumers, nodeInputs, shallowMessage, topologicalOrder } from "../../onnx/graph.ts";
import { addNode, namesOf, valueInfoFor } from "../../onnx/emit.ts";
import { inferTypes, tapInfos } from "../../onnx/infer.ts";
import { graphOf, type OnnxModel } from "../../onnx/model.ts";
import { tensorShape } from "../../onnx/tensor.ts";
import type { PruneTarget } from "../types.ts";
import { addCalibrationTaps, calibrationWindows, feedsFor, type CalibrationData, type InputStats } from "./calibration.ts";

interface Segment {
  nodes: NodeProto[];
  /** Values read from the cache (produced before the segment). */
  cut: string[];
  graphInputs: ValueInfoProto[];
  initializers: TensorProto[];
  /** Target weights the segment reads, fed from their arrays. */
  weights: PruneTarget[];
}

export class SegmentedCalibration {
  /** Values crossing the current cut, one tensor per window. */
  private readonly cache = new Map<string, ort.Tensor[]>();

  private constructor(
    private readonly model: OnnxModel,
    private readonly order: NodeProto[],
    /** Index in `order` where each group's segment starts, and order.length after the last. */
    private readonly bounds: number[],
    private readonly producedAt: Map<string, number>,
    private readonly lastUse: Map<string, number>,
    private readonly targets: Map<string, PruneTarget>,
    private readonly windowFeeds: Record<string, ort.Tensor>[],
    private readonly calibration: CalibrationData,
    private readonly inferred: ReturnType<typeof inferTypes>,
  ) {}

  /**
   * The plan for `groups` (targets in forward order), or null where the graph's order does not
   * keep each group's matrices together (the caller then calibrates on the whole model).
   */
  static async create(model: OnnxModel, groups: readonly PruneTarget[][], calibration: CalibrationData): Promise<SegmentedCalibration | null> {
    const graph = graphOf(model);
    const order = topologicalOrder(graph, model.file);
    const index = new Map(order.map((n, i) => [n, i]));
    const uses = consumers(graph);
    const bounds: number[] = [];
    let previousEnd = -1;
    for (const group of groups) {
      const at = group.flatMap((t) => (uses.get(t.name) ?? []).map((n) => index.get(n)!));
      if (!at.length) return null;
      const start = Math.min(...at);
      if (start <= previousEnd) return null;
      bounds.push(start);
      previousEnd = Math.max(...at);
    }
    bounds.push(order.length);
    const producedAt = new Map<string, number>();
    const lastUse = new Map<string, number>();
    order.forEach((node, i) => {
      for (const o of node.output) if (o) producedAt.set(o, i);
      for (const name of nodeInputs(node)) lastUse.set(name, Math.max(lastUse.get(name) ?? -1, i));
    });
    // Every value that crosses a cut needs a type to be a segment's input or output; where type
    // inference does not know an op upstream (contrib ops of optimized exports), no segments.
    const inferred = inferTypes(model);
    const initializers = new Set(graph.initializer.map((t) => t.name));
    for (const [name, at] of producedAt) {
      if (initializers.has(name)) continue;
      const last = lastUse.get(name) ?? -1;
      if (bounds.some((b) => at < b && last >= b) && !inferred.types.has(name)) return null;
    }
    const targets = new Map(groups.flat().map((t) => [t.name, t]));
    const windowFeeds = await graphInputFeeds(model, calibration);
    const plan = new SegmentedCalibration(model, order, bounds, producedAt, lastUse, targets, windowFeeds, calibration, inferred);
    // The prefix before the first group (embeddings, masks) runs once.
    await plan.runSegment(0, plan.crossing(0, bounds[0]), null);
    return plan;
  }

  get groups(): number {
    return this.bounds.length - 1;
  }

  /** Hessians (or squared norms) of group g's activations, from its dense weights. */
  async stats(g: number, inputs: ReadonlyMap<string, number>, kind: "hessian" | "sqnorm"): Promise<Map<string, InputStats>> {
    const stats = new Map<string, InputStats>();
    for (const [input, size] of inputs) stats.set(input, { input, size, values: new Float64Array(kind === "sqnorm" ? size : size * size), tokens: 0 });
    await this.runSegment(this.bounds[g], [...inputs.keys()], { inputs, kind, stats });
    return stats;
  }

  /** Runs group g's segment with its weights as they are now (pruned) and moves the cut past it. */
  async advance(g: number): Promise<void> {
    const end = this.bounds[g + 1];
    if (g + 1 < this.groups) await this.runSegment(this.bounds[g], this.crossing(this.bounds[g], end), null);
    for (const name of [...this.cache.keys()]) if ((this.lastUse.get(name) ?? -1) < end) this.cache.delete(name);
  }

  /** Values produced in [start, end) that nodes from `end` on read. */
  private crossing(start: number, end: number): string[] {
    const out: string[] = [];
    for (let i = start; i < end; i++) for (const o of this.order[i].output) if (o && (this.lastUse.get(o) ?? -1) >= end) out.push(o);
    return out;
  }

  /** The nodes from `start` on that compute `outputs`, stopping at cached values, inputs and initializers. */
  private segment(start: number, outputs: readonly string[]): Segment {
    const graph = graphOf(this.model);
    const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
    const graphInputs = new Map(graph.input.map((v) => [v.name, v]));
    const nodes = new Set<number>();
    const cut = new Set<string>();
    const inputs = new Set<string>();
    const inits = new Set<string>();
    const stack = [...outputs];
    const seen = new Set<string>();
    while (stack.length) {
      const name = stack.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      if (initializers.has(name)) inits.add(name);
      else if (graphInputs.has(name)) inputs.add(name);
      else if ((this.producedAt.get(name) ?? -1) < start) cut.add(name);
      else {
        const i = this.producedAt.get(name)!;
        if (!nodes.has(i)) {
          nodes.add(i);
          stack.push(...nodeInputs(this.order[i]));
        }
      }
    }
    return {
      nodes: [...nodes].sort((a, b) => a - b).map((i) => this.order[i]),
      cut: [...cut],
      graphInputs: [...inputs].map((n) => graphInputs.get(n)!),
      initializers: [...inits].filter((n) => !this.targets.has(n)).map((n) => initializers.get(n)!),
      weights: [...inits].filter((n) => this.targets.has(n)).map((n) => this.targets.get(n)!),
    };
  }

  /**
   * Runs the subgraph from `start` that computes `outputs` over every window: with `reduce`,
   * their statistics are summed; without, they are cached for the segments after.
   */
  private async runSegment(start: number, outputs: string[], reduce: { inputs: ReadonlyMap<string, number>; kind: "hessian" | "sqnorm"; stats: Map<string, InputStats> } | null): Promise<void> {
    if (!outputs.length) return;
    const part = this.segment(start, outputs);
    const graph = create(GraphProtoSchema, {
      name: "prunebench_calibration_segment",
      node: [...part.nodes],
      initializer: part.initializers,
      input: [...part.graphInputs, ...tapInfos(this.model, part.cut, this.inferred)],
      output: reduce ? [] : tapInfos(this.model, outputs, this.inferred),
    });
    const fed = new Map<string, string>();
    for (const t of part.weights) {
      const tensor = graphOf(this.model).initializer.find((x) => x.name === t.name)!;
      const shape = tensorShape(this.model, tensor);
      if (tensor.dataType === DataType.FLOAT) {
        graph.input.push(valueInfoFor(t.name, { dtype: DataType.FLOAT, shape }));
        fed.set(t.name, t.name);
      } else {
        // Fed as float32 (the arrays being pruned) and cast to the weight's own type.
        const wide = namesOf(graph).fresh(`${t.name}__pb_float32`);
        graph.input.push(valueInfoFor(wide, { dtype: DataType.FLOAT, shape }));
        addNode(graph, { opType: "Cast", inputs: [wide], outputs: [t.name], attributes: { to: tensor.dataType } });
        fed.set(t.name, wide);
      }
    }
    const proto = shallowMessage(this.model.proto);
    proto.graph = graph;
    let segment: OnnxModel = { file: this.model.file, dir: this.model.dir, proto };
    let reductions: Map<string, string> | null = null;
    if (reduce) ({ model: segment, outputs: reductions } = addCalibrationTaps(segment, reduce.inputs, reduce.kind));
    const fetches = reductions ? [...reductions.values()] : outputs;
    const { session } = await createSession(segment);
    try {
      const results: ort.Tensor[][] = outputs.map(() => []);
      for (const [w, windowFeed] of this.windowFeeds.entries()) {
        const feeds: Record<string, ort.Tensor> = {};
        for (const v of part.graphInputs) feeds[v.name] = windowFeed[v.name];
        for (const name of part.cut) feeds[name] = this.cache.get(name)![w];
        for (const t of part.weights) {
          const tensor = graphOf(this.model).initializer.find((x) => x.name === t.name)!;
          feeds[fed.get(t.name)!] = new Tensor("float32", t.weights, tensorShape(this.model, tensor));
        }
        const result = await session.run(feeds, fetches);
        if (reduce && reductions) {
          for (const [input, out] of reductions) {
            const s = reduce.stats.get(input)!;
            const data = result[out].data as Float32Array;
            for (let j = 0; j < data.length; j++) s.values[j] += data[j];
            s.tokens += this.calibration.seqLen;
          }
        } else {
          outputs.forEach((name, k) => results[k].push(result[name]));
        }
      }
      if (!reduce) outputs.forEach((name, k) => this.cache.set(name, results[k]));
    } finally {
      await session.release();
    }
  }
}

/** The model's own inputs for every calibration window, built as evaluation builds them. */
async function graphInputFeeds(model: OnnxModel, calibration: CalibrationData): Promise<Record<string, ort.Tensor>[]> {
  const inputs = graphOf(model).input.filter((v) => !graphOf(model).initializer.some((t) => t.name === v.name));
  // A graph of Identity nodes gives feedBuilder a session that declares exactly these inputs.
  const graph = create(GraphProtoSchema, { name: "prunebench_calibration_inputs", input: inputs, output: [] });
  for (const v of inputs) {
    const output = shallowMessage(v);
    output.name = addNode(graph, { opType: "Identity", inputs: [v.name], name: `${v.name}__pb_identity` }).output[0];
    graph.output.push(output);
  }
  const proto = shallowMessage(model.proto);
  proto.graph = graph;
  const { session } = await createSession({ file: model.file, dir: model.dir, proto });
  try {
    const feeds = feedsFor(session, calibration.family);
    return calibrationWindows(calibration).map((window) => feeds(window));
  } finally {
    await session.release();
  }
}
