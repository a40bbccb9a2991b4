/**
 * A changed demo decoder that computes the same function but prunes worse: in each layer the
 * query and key columns are scaled by c_j and 1/c_j (q.k is unchanged) and the value columns by
 * d_j with the output projection's rows by 1/d_j (attention mixes values linearly), c and d
 * log-uniform in [1/range, range]. Its dense perplexity is the original's; per-matrix
 * magnitude pruning now ranks weights by scales the function does not see.
 */
import { graphOf, readModel } from "../../src/onnx/model.ts";
import { readFloat32, setFloat32 } from "../../src/onnx/tensor.ts";
import { writeModel } from "../../src/onnx/write.ts";
import { seededRandom } from "../../src/util/random.ts";

export function writeRescaledDecoder(input: string, output: string, range = 3, seed = 1): void {
  const model = readModel(input);
  const byName = new Map(graphOf(model).initializer.map((t) => [t.name, t]));
  const random = seededRandom(seed);
  const scale = () => Math.exp((random() * 2 - 1) * Math.log(range));
  for (let layer = 0; byName.has(`transformer.h.${layer}.attn.c_attn.weight`); layer++) {
    const get = (name: string) => {
      const t = byName.get(`transformer.h.${layer}.attn.${name}`)!;
      return { t, w: Float32Array.from(readFloat32(model, t).data) };
    };
    const qkv = get("c_attn.weight");
    const qkvBias = get("c_attn.bias");
    const proj = get("c_proj.weight");
    const hidden = proj.w.length ** 0.5;
    for (let j = 0; j < hidden; j++) {
      const c = scale();
      const d = scale();
      for (let i = 0; i < hidden; i++) {
        qkv.w[i * 3 * hidden + j] *= c;
        qkv.w[i * 3 * hidden + hidden + j] /= c;
        qkv.w[i * 3 * hidden + 2 * hidden + j] *= d;
        proj.w[j * hidden + i] /= d;
      }
      qkvBias.w[j] *= c;
      qkvBias.w[hidden + j] /= c;
      qkvBias.w[2 * hidden + j] *= d;
    }
    for (const x of [qkv, qkvBias, proj]) setFloat32(x.t, x.w);
  }
  writeModel(model, output);
}
