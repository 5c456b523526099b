// Reading a file a project names (a module, bramble.toml, bramble.lock, the user's config)
// without trusting what it is: a FIFO would block the read for good and /dev/zero would fill
// memory, so only a regular file of a sane size is read, and the open itself never waits.
import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";

/** Larger than any real build file; a bigger one is refused before it is read. */
export const MAX_SOURCE_BYTES = 64 << 20;

export class NotRegularFileError extends Error {}

/** The UTF-8 text of `file`, which must be a regular file (symlinks followed) of at most MAX_SOURCE_BYTES. */
export function readRegularFile(file: string, what = "file"): string {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isFIFO()
        ? "a FIFO"
        : st.isCharacterDevice()
          ? "a character device"
          : st.isBlockDevice()
            ? "a block device"
            : st.isSocket()
              ? "a socket"
              : st.isDirectory()
                ? "a directory"
                : "not a regular file";
      throw new NotRegularFileError(`this ${what} is ${kind}, not a regular file`);
    }
    if (st.size > MAX_SOURCE_BYTES) throw new NotRegularFileError(`this ${what} is ${st.size} bytes, more than the ${MAX_SOURCE_BYTES} a build file may have`);
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}
