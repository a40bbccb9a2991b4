/**
 * Assembles the WebAssembly kernels (src/prune/stream/kernels.wat, src/prune/calibrated/sweep.wat)
 * into .wasm files beside them with wabt. The binaries are committed so that installs without dev
 * dependencies (the Action) run them; a test assembles each source again and checks the two agree.
 * Run: npm run build:kernels
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import initWabt from "wabt";

export const KERNELS_WAT = fileURLToPath(new URL("../src/prune/stream/kernels.wat", import.meta.url));
export const KERNELS_WASM = fileURLToPath(new URL("../src/prune/stream/kernels.wasm", import.meta.url));
export const SWEEP_WAT = fileURLToPath(new URL("../src/prune/calibrated/sweep.wat", import.meta.url));
export const SWEEP_WASM = fileURLToPath(new URL("../src/prune/calibrated/sweep.wasm", import.meta.url));

const SOURCES: [wat: string, wasm: string][] = [
  [KERNELS_WAT, KERNELS_WASM],
  [SWEEP_WAT, SWEEP_WASM],
];

export async function assembleKernels(wat = KERNELS_WAT): Promise<Uint8Array> {
  const wabt = await initWabt();
  const module = wabt.parseWat(path.basename(wat), readFileSync(wat, "utf8"), { simd: true });
  try {
    module.validate();
    return module.toBinary({ write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [wat, wasm] of SOURCES) {
    const bytes = await assembleKernels(wat);
    writeFileSync(wasm, bytes);
    console.log(`${wasm}: ${bytes.byteLength} bytes`);
  }
}
