/**
 * Assembles the WebAssembly kernels (src/prune/stream/kernels.wat) into kernels.wasm with wabt.
 * The binary is committed so that installs without dev dependencies (the Action) run it; a test
 * assembles the source again and checks the two agree. Run: npm run build:kernels
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import initWabt from "wabt";

export const KERNELS_WAT = fileURLToPath(new URL("../src/prune/stream/kernels.wat", import.meta.url));
export const KERNELS_WASM = fileURLToPath(new URL("../src/prune/stream/kernels.wasm", import.meta.url));

export async function assembleKernels(): Promise<Uint8Array> {
  const wabt = await initWabt();
  const module = wabt.parseWat("kernels.wat", readFileSync(KERNELS_WAT, "utf8"), { simd: true });
  try {
    module.validate();
    return module.toBinary({ write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await assembleKernels();
  writeFileSync(KERNELS_WASM, bytes);
  console.log(`${KERNELS_WASM}: ${bytes.byteLength} bytes`);
}
