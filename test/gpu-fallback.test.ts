import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { cudaFailureReason, probeLibrary } from "../src/eval/session.ts";

const ORT_LOAD_ERROR = new Error("OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library");
const LIBRARY = "/opt/ort/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so";

test("a CUDA provider library that cannot load is named with the loader's reason, in one line", () => {
  const line = cudaFailureReason(ORT_LOAD_ERROR, { library: LIBRARY, probe: () => "libcublasLt.so.13: cannot open shared object file: No such file or directory" });
  assert.equal(
    line,
    "cuda provider unavailable, running on cpu: libonnxruntime_providers_cuda.so cannot be loaded (libcublasLt.so.13: cannot open shared object file: No such file or directory); put the lib folders of the CUDA and cuDNN versions it was built for on LD_LIBRARY_PATH",
  );
  assert.doesNotMatch(line, /\n/);
});

test("other cuda failures keep onnxruntime's first clause, without its file and line noise", () => {
  const noDevice = new Error(
    "[ONNXRuntimeError] : 1 : FAIL : CUDA failure 100: no CUDA-capable device is detected ; GPU=-1 ; hostname=runner ; file=/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc ; line=129 ; expr=cudaSetDevice(info_.device_id);\nstack",
  );
  assert.equal(cudaFailureReason(noDevice, { library: LIBRARY, probe: () => null }), "cuda provider failed, running on cpu: CUDA failure 100: no CUDA-capable device is detected");
  // The library loads (the probe finds nothing wrong): onnxruntime's own words.
  assert.equal(cudaFailureReason(ORT_LOAD_ERROR, { library: LIBRARY, probe: () => null }), `cuda provider failed, running on cpu: ${ORT_LOAD_ERROR.message}`);
  // No provider library at all.
  assert.equal(cudaFailureReason(ORT_LOAD_ERROR, { library: null }), `cuda provider failed, running on cpu: ${ORT_LOAD_ERROR.message}`);
});

test("the loader probe reports a library that cannot load and passes one that loads", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "prunebench-probe-"));
  try {
    const broken = path.join(dir, "libonnxruntime_providers_cuda.so");
    writeFileSync(broken, "not an ELF file");
    assert.match(probeLibrary(broken) ?? "", /invalid ELF header|file too short/);
    assert.match(probeLibrary(path.join(dir, "missing.so")) ?? "", /No such file/);
    // A real shared library that is not a Node addon loads: nothing to report.
    assert.equal(probeLibrary(process.platform === "linux" ? "libm.so.6" : "/usr/lib/libm.dylib"), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a built graph asked for cuda runs, on the cpu where cuda cannot, and training's sessions say the fallback once per process", async () => {
  const { create } = await import("@bufbuild/protobuf");
  const { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema } = await import("onnx-buf");
  const { DataType } = await import("../src/onnx/dtype.ts");
  const { valueInfoFor } = await import("../src/onnx/emit.ts");
  const { Tensor, createSession, cudaUnavailableReason, openSession } = await import("../src/eval/session.ts");
  const graph = create(GraphProtoSchema, {
    name: "double",
    node: [create(NodeProtoSchema, { opType: "Add", input: ["x", "x"], output: ["y"] })],
    input: [valueInfoFor("x", { dtype: DataType.FLOAT, shape: [2] })],
    output: [valueInfoFor("y", { dtype: DataType.FLOAT, shape: [2] })],
  });
  const model = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })], graph });
  const lines: string[] = [];
  const original = console.error;
  console.error = (...parts: unknown[]) => void lines.push(parts.map(String).join(" "));
  try {
    const created = await createSession(model, { provider: "cuda" });
    assert.equal(created.warning === undefined, created.provider === "cuda", `${created.provider}: ${created.warning}`);
    if (cudaUnavailableReason()) assert.match(created.warning ?? "", /^cuda provider unavailable, running on cpu: /);
    for (let i = 0; i < 2; i++) {
      const session = await openSession(model, { provider: "cuda" });
      const { y } = await session.run({ x: new Tensor("float32", Float32Array.from([1, 2.5]), [2]) });
      assert.deepEqual(Array.from(y.data as Float32Array), [2, 5]);
    }
    assert.equal(lines.length, created.warning ? 1 : 0, lines.join("\n"));
    if (created.warning) assert.equal(lines[0], `warning: ${created.warning}`);
  } finally {
    console.error = original;
  }
});
