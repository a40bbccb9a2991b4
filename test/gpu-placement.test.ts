import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlacements, placementOf } from "../bench/gpu/placement.ts";
import { TORCH_EXPORT, skipWithoutShared } from "./helpers/shared-data.ts";

test("onnxruntime's verbose node placements are read per provider, with the CPU nodes named", () => {
  const log = [
    "2026-12-03 11:14:42.561 [V:onnxruntime:, session_state.cc:1377 VerifyEachNodeIsAssignedToAnEp] Node placements",
    "2026-12-03 11:14:42.561 [V:onnxruntime:, session_state.cc:1380 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CUDAExecutionProvider]. Number of nodes: 110",
    "2026-12-03 11:14:42.561 [V:onnxruntime:, session_state.cc:1382 VerifyEachNodeIsAssignedToAnEp]   MatMul (/h.0/attn/MatMul)",
    "2026-12-03 11:14:42.561 [V:onnxruntime:, session_state.cc:1380 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2",
    "2026-12-03 11:14:42.561 [V:onnxruntime:, session_state.cc:1382 VerifyEachNodeIsAssignedToAnEp]   Shape (/Shape)",
    "2026-12-03 11:14:42.561 [V:onnxruntime:, session_state.cc:1382 VerifyEachNodeIsAssignedToAnEp]   Gather (/Gather_1)",
    "2026-12-03 11:14:42.568 [V:onnxruntime:, session_state.cc:186 CreateGraphInfo] SaveMLValueNameIndexMapping",
  ].join("\n");
  assert.deepEqual(parsePlacements(log), { nodes: { CUDAExecutionProvider: 110, CPUExecutionProvider: 2 }, onCpu: ["Shape (/Shape)", "Gather (/Gather_1)"] });
});

test("a real session's placement log is read (cpu provider: every node on the CPU)", { skip: skipWithoutShared(TORCH_EXPORT.gpt2) }, () => {
  const p = placementOf("torch-export gpt2", TORCH_EXPORT.gpt2, ["cpu"]);
  assert.equal(p.error, undefined);
  assert.deepEqual(Object.keys(p.nodes), ["CPUExecutionProvider"]);
  assert.ok(p.nodes.CPUExecutionProvider! > 50, `${p.nodes.CPUExecutionProvider} nodes`);
  // "All nodes placed on" lists no node names.
  assert.deepEqual(p.onCpu, []);
});
