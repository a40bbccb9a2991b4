/** The gradient rule of each ONNX op (default domain), by op type. */
import * as elementwise from "./elementwise.ts";
import * as matmul from "./matmul.ts";
import * as reduce from "./reduce.ts";
import * as norm from "./norm.ts";
import * as gather from "./gather.ts";
import * as shape from "./shape.ts";
import type { GradRule } from "./types.ts";

export type { GradRule, GradContext } from "./types.ts";

export const GRAD_RULES: ReadonlyMap<string, GradRule> = new Map(
  Object.entries({ ...elementwise, ...matmul, ...reduce, ...norm, ...gather, ...shape }) as [string, GradRule][],
);

/**
 * Ops whose outputs never carry gradient (integers, booleans, shapes, constants, or piecewise
 * constant values): paths through them are left alone.
 */
export const NON_DIFFERENTIABLE = new Set([
  "Shape", "Size", "Constant", "ConstantOfShape", "Range", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
  "Not", "And", "Or", "Xor", "IsNaN", "IsInf", "ArgMax", "ArgMin", "NonZero", "OneHot", "Floor", "Ceil", "Round", "Sign",
  "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike",
]);
