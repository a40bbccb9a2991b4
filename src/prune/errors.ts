import { UserError } from "../errors.ts";

/**
 * Bad pruning input (a sparsity out of range, an N:M pattern that does not fit a matrix, a
 * pattern that matches nothing, NaN in a weight): one message that names what is wrong.
 */
export class PruneError extends UserError {}
