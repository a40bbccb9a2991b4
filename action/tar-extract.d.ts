import { Writable } from "node:stream";

export class TarExtractor extends Writable {
  constructor(dest: string, keep?: (rel: string) => boolean);
}
