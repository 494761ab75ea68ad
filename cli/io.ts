/** Where CLI commands write: results to stdout, notes and progress to stderr. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal: draw a progress bar instead of periodic lines. */
  readonly errIsTTY: boolean;
  now(): number;
}

export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  errIsTTY: Boolean(process.stderr.isTTY),
  now: () => Date.now(),
};

/** Bad command line: usage is printed, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the user can act on: message printed without a stack, exit code 1. */
export class CliError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'CliError';
  }
}
