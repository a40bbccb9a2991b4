/**
 * Symbolic tensor dimensions: a number, or a string naming a size only known at run time
 * ("batch", "sequence") or an expression over such names ("sequence+past", "batch*4").
 * Expressions are kept in a small grammar (+ - * / and parentheses; / is integer division,
 * as ONNX's integer Div of positive sizes) so `evaluateDim` can turn them into numbers once
 * the input sizes are known.
 */
export type Dim = number | string;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.]*$/;

function isAtom(d: Dim): boolean {
  return typeof d === "number" ? d >= 0 : IDENTIFIER.test(d);
}

function wrap(d: Dim): string {
  if (typeof d === "number") return d < 0 ? `(${d})` : String(d);
  return IDENTIFIER.test(d) ? d : `(${d})`;
}

/** A product of factors: coefficient times symbols (with repeats), or undefined when not one. */
interface Monomial {
  coefficient: number;
  symbols: string[];
}

function monomial(d: Dim): Monomial | undefined {
  if (typeof d === "number") return { coefficient: d, symbols: [] };
  const parts = d.split("*");
  const out: Monomial = { coefficient: 1, symbols: [] };
  for (const p of parts) {
    if (/^\d+$/.test(p)) out.coefficient *= Number(p);
    else if (IDENTIFIER.test(p)) out.symbols.push(p);
    else return undefined;
  }
  return out;
}

function fromMonomial(m: Monomial): Dim {
  if (m.symbols.length === 0 || m.coefficient === 0) return m.coefficient;
  const symbols = [...m.symbols].sort();
  return m.coefficient === 1 ? symbols.join("*") : [...symbols, String(m.coefficient)].join("*");
}

export function addDim(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a + b;
  if (b === 0) return a;
  if (a === 0) return b;
  if (typeof b === "number" && b < 0) return subDim(a, -b);
  return `${wrap(a)}+${wrap(b)}`;
}

export function subDim(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (b === 0) return a;
  if (a === b) return 0;
  // (x+k)-k and (x+y)-y come from "total = past + sequence" minus one of them.
  if (typeof a === "string") {
    const i = a.lastIndexOf("+");
    if (i > 0 && isBalanced(a.slice(0, i)) && a.slice(i + 1) === wrap(b)) return unwrap(a.slice(0, i));
    const j = a.indexOf("+");
    if (j > 0 && isBalanced(a.slice(0, j)) && a.slice(0, j) === wrap(b)) return unwrap(a.slice(j + 1));
  }
  return `${wrap(a)}-${wrap(b)}`;
}

export function mulDim(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === 0 || b === 0) return 0;
  const ma = monomial(a);
  const mb = monomial(b);
  if (ma && mb) return fromMonomial({ coefficient: ma.coefficient * mb.coefficient, symbols: [...ma.symbols, ...mb.symbols] });
  return `${wrap(a)}*${wrap(b)}`;
}

/** Integer division; exact cancellation of monomials ("batch*sequence*4" / "sequence*2" = "batch*2"). */
export function divDim(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return b === 0 ? NaN : Math.trunc(a / b);
  if (b === 1) return a;
  if (a === b) return 1;
  const ma = monomial(a);
  const mb = monomial(b);
  if (ma && mb && mb.coefficient !== 0 && ma.coefficient % mb.coefficient === 0) {
    const rest = [...ma.symbols];
    let ok = true;
    for (const s of mb.symbols) {
      const i = rest.indexOf(s);
      if (i < 0) {
        ok = false;
        break;
      }
      rest.splice(i, 1);
    }
    if (ok) return fromMonomial({ coefficient: ma.coefficient / mb.coefficient, symbols: rest });
  }
  return `${wrap(a)}/${wrap(b)}`;
}

export function productDims(dims: readonly Dim[]): Dim {
  return dims.reduce<Dim>((p, d) => mulDim(p, d), 1);
}

function isBalanced(s: string): boolean {
  let depth = 0;
  for (const c of s) {
    if (c === "(") depth++;
    else if (c === ")" && --depth < 0) return false;
  }
  return depth === 0;
}

function unwrap(s: string): Dim {
  if (/^\d+$/.test(s)) return Number(s);
  if (s.startsWith("(") && s.endsWith(")") && isBalanced(s.slice(1, -1))) return unwrap(s.slice(1, -1));
  return s;
}

export function isSymbolic(d: Dim): d is string {
  return typeof d === "string";
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a === b;
}

export { isAtom };

/**
 * The number a dimension stands for, given the sizes of its symbols; undefined when a symbol
 * is unbound or the text is not an expression of the grammar above.
 */
export function evaluateDim(d: Dim, bindings: Readonly<Record<string, number>>): number | undefined {
  if (typeof d === "number") return d;
  const tokens = d.match(/[A-Za-z_][A-Za-z0-9_.]*|\d+|[-+*/()]/g);
  if (!tokens || tokens.join("") !== d.replace(/\s+/g, "")) return undefined;
  let i = 0;
  const primary = (): number | undefined => {
    const t = tokens[i++];
    if (t === undefined) return undefined;
    if (t === "(") {
      const v = sum();
      return tokens[i++] === ")" ? v : undefined;
    }
    if (t === "-") {
      const v = primary();
      return v === undefined ? undefined : -v;
    }
    if (/^\d+$/.test(t)) return Number(t);
    if (IDENTIFIER.test(t)) return bindings[t];
    return undefined;
  };
  const product = (): number | undefined => {
    let v = primary();
    while (v !== undefined && (tokens[i] === "*" || tokens[i] === "/")) {
      const op = tokens[i++];
      const r = primary();
      if (r === undefined) return undefined;
      v = op === "*" ? v * r : r === 0 ? undefined : Math.trunc(v / r);
    }
    return v;
  };
  const sum = (): number | undefined => {
    let v = product();
    while (v !== undefined && (tokens[i] === "+" || tokens[i] === "-")) {
      const op = tokens[i++];
      const r = product();
      if (r === undefined) return undefined;
      v = op === "+" ? v + r : v - r;
    }
    return v;
  };
  const value = sum();
  return i === tokens.length ? value : undefined;
}
