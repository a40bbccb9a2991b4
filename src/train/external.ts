/**
 * An external trainer (finetune.command): a user command, for example a PyTorch script on the
 * GPU runner, reads {model} and writes {out}. prunebench then re-applies the masks to what it
 * wrote and verifies the achieved sparsity, since nothing obliges a foreign trainer to keep
 * pruned weights at zero.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema } from "onnx-buf";
import { DataType, dataTypeName } from "../onnx/dtype.ts";
import { checkFiniteWeights } from "../onnx/finite.ts";
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
  const fail = (message: string, file?: string) => new ExternalTrainerError(`finetune.command ${JSON.stringify(o.command)}: ${message}`, { file, field: "finetune.command" });
  // The command writes into a fresh folder beside `out`: nothing an earlier attempt left passes
  // for its result, and `out` appears only once the model is checked, atomically. The folder
  // goes when done; after a failure it stays while it holds anything, for a look.
  mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const scratch = mkdtempSync(path.join(path.dirname(path.resolve(o.out)), ".prunebench-trainer-"));
  const written = path.join(scratch, path.basename(o.out));
  let done = false;
  try {
    const line = fillCommand(o.command, { model: path.resolve(o.model), out: written });
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = spawn(line, { shell: true, cwd: o.cwd, env: o.env ?? process.env, stdio: o.onOutput ? ["ignore", "pipe", "pipe"] : "inherit" });
      child.stdout?.on("data", (d: Buffer) => o.onOutput?.(d.toString()));
      child.stderr?.on("data", (d: Buffer) => o.onOutput?.(d.toString()));
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ code, signal }));
    });
    if (exit.code !== 0) throw fail(exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`);
    if (!existsSync(written)) throw fail(`wrote no model at {out} (${written})`, written);
    const result: ExternalTrainerResult = { out: o.out, seconds: 0, reapplied: 0 };
    try {
      let tuned = readModel(written);
      const original = readModel(o.model);
      checkSameGraph(tuned, original);
      checkFiniteWeights(tuned);
      if (o.masks && o.masks.size) {
        const { model, reapplied, values } = reapplyMasks(tuned, o.masks);
        tuned = model;
        result.reapplied = reapplied;
        result.sparsity = checkSparsity(values, o.masks);
      }
      writeModel(tuned, o.out);
    } catch (error) {
      // Whatever is wrong with what it wrote (each message names the file), the line names the command first.
      if (error instanceof UserError) throw fail(error.message, written);
      throw error;
    }
    result.seconds = (Date.now() - started) / 1000;
    done = true;
    return result;
  } finally {
    if (done || readdirSync(scratch).length === 0) rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The trained model must be the model it was given, with other values: the same graph inputs
 * and outputs and every initializer under its name, shape and type. Anything else would be
 * evaluated as if it were the pruned model, and its masks would not line up.
 */
export function checkSameGraph(tuned: OnnxModel, original: OnnxModel): void {
  const notSame = (what: string) => new ExternalTrainerError(`${tuned.file}: not the same graph as ${original.file}: ${what}`, { file: tuned.file });
  const a = graphOf(tuned);
  const b = graphOf(original);
  for (const [kind, mine, theirs] of [["inputs", a.input, b.input], ["outputs", a.output, b.output]] as const) {
    const names = (list: readonly { name: string }[]) => list.map((v) => v.name).join(", ");
    if (names(mine) !== names(theirs)) throw notSame(`its ${kind} are [${names(mine)}], the input's [${names(theirs)}]`);
  }
  const byName = new Map(a.initializer.map((t) => [t.name, t]));
  for (const t of b.initializer) {
    const got = byName.get(t.name);
    if (!got) throw notSame(`it lacks the initializer ${JSON.stringify(t.name)}; keep initializer names when exporting`);
    const dims = (x: typeof t) => x.dims.map(Number).join(",");
    if (dims(got) !== dims(t)) throw notSame(`initializer ${JSON.stringify(t.name)} has shape [${dims(got)}], the input's is [${dims(t)}]`);
    if (got.dataType !== t.dataType) throw notSame(`initializer ${JSON.stringify(t.name)} is ${dataTypeName(got.dataType)}, the input's is ${dataTypeName(t.dataType)}`);
  }
}

/** Zeroes masked weights in `tuned` (whose graph checkSameGraph has compared with the input's). */
export function reapplyMasks(tuned: OnnxModel, masks: Masks): { model: OnnxModel; reapplied: number; values: Map<string, Float32Array> } {
  const values = new Map<string, Float32Array>();
  let reapplied = 0;
  const graph = graphOf(tuned);
  const initializer = [...graph.initializer];
  for (const name of masks.keys()) {
    const t = graph.initializer.find((x) => x.name === name);
    if (!t) throw new ExternalTrainerError(`${tuned.file}: the trained model lacks the weight ${JSON.stringify(name)} (the masks name it); keep initializer names when exporting`);
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
