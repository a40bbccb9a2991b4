/**
 * An external trainer (finetune.command): a user command, for example a PyTorch script on the
 * GPU runner, reads {model} and writes {out}. prunebench then re-applies the masks to what it
 * wrote and verifies the achieved sparsity, since nothing obliges a foreign trainer to keep
 * pruned weights at zero.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema } from "onnx-buf";
import { DataType } from "../onnx/dtype.ts";
import { graphOf, readModel, type OnnxModel } from "../onnx/model.ts";
import { readFloat32 } from "../onnx/tensor.ts";
import { writeModel } from "../onnx/write.ts";
import { checkSparsity, type Masks, type SparsityReport } from "./masks.ts";
import { UserError } from "../errors.ts";

export class ExternalTrainerError extends UserError {}

export interface ExternalTrainerOptions {
  /** Shell command with {model} and {out} placeholders (replaced by quoted paths). */
  command: string;
  model: string;
  out: string;
  masks?: Masks;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the command's output goes (default: inherited stdout/stderr). */
  onOutput?: (chunk: string) => void;
}

export interface ExternalTrainerResult {
  out: string;
  seconds: number;
  /** How many weights the command had moved off zero at pruned positions (re-zeroed here). */
  reapplied: number;
  sparsity?: SparsityReport;
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function fillCommand(command: string, paths: { model: string; out: string }): string {
  if (!command.includes("{out}")) throw new ExternalTrainerError(`finetune.command must contain {out}, where the trained model is written: ${JSON.stringify(command)}`);
  return command.replaceAll("{model}", shellQuote(paths.model)).replaceAll("{out}", shellQuote(paths.out));
}

export async function runExternalTrainer(o: ExternalTrainerOptions): Promise<ExternalTrainerResult> {
  const started = Date.now();
  const line = fillCommand(o.command, { model: o.model, out: o.out });
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(line, { shell: true, cwd: o.cwd, env: o.env ?? process.env, stdio: o.onOutput ? ["ignore", "pipe", "pipe"] : "inherit" });
    child.stdout?.on("data", (d: Buffer) => o.onOutput?.(d.toString()));
    child.stderr?.on("data", (d: Buffer) => o.onOutput?.(d.toString()));
    child.on("error", reject);
    child.on("close", (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  if (code !== 0) throw new ExternalTrainerError(`finetune.command exited with status ${code}: ${line}`);
  if (!existsSync(o.out)) throw new ExternalTrainerError(`finetune.command finished but wrote no model at ${o.out}`);
  const result: ExternalTrainerResult = { out: o.out, seconds: (Date.now() - started) / 1000, reapplied: 0 };
  if (o.masks && o.masks.size) {
    const original = readModel(o.model);
    const tuned = readModel(o.out);
    const { model, reapplied, values } = reapplyMasks(tuned, original, o.masks);
    writeModel(model, o.out);
    result.reapplied = reapplied;
    result.sparsity = checkSparsity(values, o.masks);
  }
  return result;
}

/** Zeroes masked weights in `tuned`, checking each masked tensor is still there with its shape. */
export function reapplyMasks(tuned: OnnxModel, original: OnnxModel, masks: Masks): { model: OnnxModel; reapplied: number; values: Map<string, Float32Array> } {
  const before = new Map(graphOf(original).initializer.map((t) => [t.name, t]));
  const values = new Map<string, Float32Array>();
  let reapplied = 0;
  const graph = graphOf(tuned);
  const initializer = [...graph.initializer];
  for (const name of masks.keys()) {
    const t = graph.initializer.find((x) => x.name === name);
    if (!t) throw new ExternalTrainerError(`${tuned.file}: the trained model lacks the weight ${JSON.stringify(name)} (the masks name it); keep initializer names when exporting`);
    const old = before.get(name);
    const dims = t.dims.map(Number).join(",");
    if (old && old.dims.map(Number).join(",") !== dims) {
      throw new ExternalTrainerError(`${tuned.file}: weight ${JSON.stringify(name)} has shape [${dims}], the pruned model's is [${old.dims.map(Number).join(",")}]`);
    }
    if (t.dataType !== DataType.FLOAT) throw new ExternalTrainerError(`${tuned.file}: weight ${JSON.stringify(name)} is not fp32; write the trained model in fp32`);
    const data = Float32Array.from(readFloat32(tuned, t).data);
    const mask = masks.get(name)!;
    if (mask.length !== data.length) throw new ExternalTrainerError(`${tuned.file}: weight ${JSON.stringify(name)} has ${data.length} elements, its mask ${mask.length}`);
    for (let i = 0; i < data.length; i++) {
      if (!mask[i] && data[i] !== 0) {
        data[i] = 0;
        reapplied++;
      }
    }
    values.set(name, data);
    initializer[graph.initializer.indexOf(t)] = create(TensorProtoSchema, { name, dims: t.dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer) });
  }
  return { model: { ...tuned, proto: { ...tuned.proto, graph: { ...graph, initializer } } }, reapplied, values };
}
