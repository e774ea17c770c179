/// <reference types="vite/client" />

declare module 'virtual:yoga-graphiql' {
  /** Yoga's GraphiQL build: a script that defines window.YogaGraphiQL. */
  export const scriptUrl: string;
  /** Monaco's web workers for GraphiQL, by the label Monaco asks for them with. */
  export const workerUrls: Record<string, string>;
}
