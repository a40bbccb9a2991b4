/** Elementwise arithmetic: gradients summed back over broadcast axes. */
import { broadcastShape, unbroadcast } from "./broadcast.ts";
import type { GradContext, GradRule } from "./types.ts";

function binary(ctx: GradContext) {
  const [a, b] = ctx.node.input;
  const out = broadcastShape(ctx.shape(a), ctx.shape(b));
  return { a, b, out, dy: ctx.dy()! };
}

export const Add: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const { a, b, out, dy } = binary(ctx);
    return [ctx.wants(0) ? unbroadcast(ctx.e, dy, out, ctx.shape(a)) : undefined, ctx.wants(1) ? unbroadcast(ctx.e, dy, out, ctx.shape(b)) : undefined];
  },
};

export const Sub: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const { a, b, out, dy } = binary(ctx);
    return [
      ctx.wants(0) ? unbroadcast(ctx.e, dy, out, ctx.shape(a)) : undefined,
      ctx.wants(1) ? unbroadcast(ctx.e, ctx.e.op("Neg", [dy]), out, ctx.shape(b)) : undefined,
    ];
  },
};

export const Mul: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const { a, b, out, dy } = binary(ctx);
    const e = ctx.e;
    return [
      ctx.wants(0) ? unbroadcast(e, e.mul(dy, b), out, ctx.shape(a)) : undefined,
      ctx.wants(1) ? unbroadcast(e, e.mul(dy, a), out, ctx.shape(b)) : undefined,
    ];
  },
};

export const Div: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const { a, b, out, dy } = binary(ctx);
    const e = ctx.e;
    const y = ctx.node.output[0];
    return [
      ctx.wants(0) ? unbroadcast(e, e.op("Div", [dy, b]), out, ctx.shape(a)) : undefined,
      // d(a/b)/db = -y/b
      ctx.wants(1) ? unbroadcast(e, e.op("Neg", [e.op("Div", [e.mul(dy, y), b])]), out, ctx.shape(b)) : undefined,
    ];
  },
};

export const Pow: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const { a, b, out, dy } = binary(ctx);
    const e = ctx.e;
    const y = ctx.node.output[0];
    let da: string | undefined;
    if (ctx.wants(0)) {
      const bMinus1 = e.op("Sub", [b, e.scalar(1)]);
      da = unbroadcast(e, e.mul(e.mul(dy, b), e.op("Pow", [a, bMinus1])), out, ctx.shape(a));
    }
    const db = ctx.wants(1) ? unbroadcast(e, e.mul(e.mul(dy, y), e.op("Log", [a])), out, ctx.shape(b)) : undefined;
    return [da, db];
  },
};

export const Sqrt: GradRule = {
  differentiable: "all",
  grad: (ctx) => [ctx.e.op("Div", [ctx.e.mul(ctx.dy()!, ctx.e.scalar(0.5)), ctx.node.output[0]])],
};

export const Neg: GradRule = { differentiable: "all", grad: (ctx) => [ctx.e.op("Neg", [ctx.dy()!])] };

export const Identity: GradRule = { differentiable: "all", grad: (ctx) => [ctx.dy()] };

/** Dropout at inference is the identity (its mask output carries no gradient). */
export const Dropout: GradRule = {
  differentiable: [0],
  grad(ctx) {
    if (ctx.node.input[2]) throw ctx.fail("Dropout with a training_mode input is not supported; export the model for inference");
    return [ctx.dy(0)];
  },
};

export const Relu: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const e = ctx.e;
    const positive = e.op("Greater", [ctx.node.input[0], e.scalar(0)]);
    return [e.op("Where", [positive, ctx.dy()!, e.scalar(0)])];
  },
};

export const Tanh: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const e = ctx.e;
    const y = ctx.node.output[0];
    return [e.mul(ctx.dy()!, e.op("Sub", [e.scalar(1), e.mul(y, y)]))];
  },
};

export const Sigmoid: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const e = ctx.e;
    const y = ctx.node.output[0];
    return [e.mul(ctx.dy()!, e.mul(y, e.op("Sub", [e.scalar(1), y])))];
  },
};

export const Erf: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const e = ctx.e;
    const x = ctx.node.input[0];
    const gauss = e.op("Exp", [e.op("Neg", [e.mul(x, x)])]);
    return [e.mul(ctx.dy()!, e.mul(gauss, e.scalar(2 / Math.sqrt(Math.PI))))];
  },
};

export const Exp: GradRule = { differentiable: "all", grad: (ctx) => [ctx.e.mul(ctx.dy()!, ctx.node.output[0])] };

export const Log: GradRule = { differentiable: "all", grad: (ctx) => [ctx.e.op("Div", [ctx.dy()!, ctx.node.input[0]])] };

export const Reciprocal: GradRule = {
  differentiable: "all",
  grad(ctx) {
    const y = ctx.node.output[0];
    return [ctx.e.op("Neg", [ctx.e.mul(ctx.dy()!, ctx.e.mul(y, y))])];
  },
};

/** A float-to-float cast; its gradient is cast back to the input's type. */
export const Cast: GradRule = {
  differentiable: "all",
  grad: (ctx) => [ctx.e.op("Cast", [ctx.dy()!], { to: ctx.dtype(ctx.node.input[0]) })],
};

export const Where: GradRule = {
  differentiable: [1, 2],
  grad(ctx) {
    const [cond, a, b] = ctx.node.input;
    const e = ctx.e;
    const dy = ctx.dy()!;
    const out = broadcastShape(broadcastShape(ctx.shape(cond), ctx.shape(a)), ctx.shape(b));
    const zero = e.scalar(0);
    return [
      undefined,
      ctx.wants(1) ? unbroadcast(e, e.op("Where", [cond, dy, zero]), out, ctx.shape(a)) : undefined,
      ctx.wants(2) ? unbroadcast(e, e.op("Where", [cond, zero, dy]), out, ctx.shape(b)) : undefined,
    ];
  },
};

export const Expand: GradRule = {
  differentiable: [0],
  grad: (ctx) => [unbroadcast(ctx.e, ctx.dy()!, ctx.shape(ctx.node.output[0]), ctx.shape(ctx.node.input[0]))],
};

/** A triangular mask applied to a differentiable tensor masks its gradient the same way. */
export const Trilu: GradRule = {
  differentiable: [0],
  grad(ctx) {
    const inputs = [ctx.dy()!];
    if (ctx.node.input[1]) inputs.push(ctx.node.input[1]);
    return [ctx.e.op("Trilu", inputs, { upper: ctx.attrInt("upper", 1) })];
  },
};
