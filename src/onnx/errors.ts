import { UserError } from "../errors.ts";

/**
 * Errors about a model file carry the file and the part of it at fault (a tensor, a node, a
 * field), so a user can find what is wrong without reading a stack trace.
 */
export class OnnxFormatError extends UserError {
  declare readonly file: string;

  constructor(
    file: string,
    readonly where: string,
    message: string,
  ) {
    super(`${file}: ${where}: ${message}`, { file, field: where });
  }
}
