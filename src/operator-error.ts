/**
 * A problem the person running peertrust can fix (configuration, data directory,
 * database): the CLI prints its message as one line instead of a stack trace, and
 * exits with `exitCode`.
 */
export class OperatorError extends Error {
  /** 2: configuration or usage, unless a subclass says otherwise. */
  readonly exitCode: number = 2;
}
