/**
 * A problem the person running peertrust can fix (configuration, data directory,
 * database): the CLI prints its message as one line instead of a stack trace.
 */
export class OperatorError extends Error {}
