import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stderr, so that stdout carries only what a command prints for people and scripts. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'peertrust' } }, pino.destination(2));
}

/** For callers that have nowhere to log to. */
export const silentLogger: Logger = pino({ level: 'silent' });
