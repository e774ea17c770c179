// The web console and the GraphiQL page, built into dist/console/ by `npm run build`.
// The server sends the precompressed .br/.gz files beside each asset (src/http/console.ts).
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { constants as zlib } from 'node:zlib';
import * as yogaGraphiQL from '@graphql-yoga/render-graphiql/graphiql';
import { defineConfig, type Plugin } from 'vite';
import { compression } from 'vite-plugin-compression2';

const root = fileURLToPath(new URL('.', import.meta.url));

/** The files of Yoga's GraphiQL build, as yogaGraphiQLAssets names them. */
const GRAPHIQL_ASSETS = /(yoga-graphiql|graphiql-\w+-worker)-\w+\.(js|css)$/;

/**
 * Yoga's GraphiQL build (@graphql-yoga/render-graphiql) as static files with hashed
 * names. Yoga's own renderer inlines all of it, 9 MB, into a page built at every
 * request; here the page loads it as a script, a stylesheet and three workers that the
 * browser caches for good.
 */
function yogaGraphiQLAssets(): Plugin {
  const asset = (name: string, extension: string, source: string) => {
    const hash = createHash('sha256').update(source).digest('hex').slice(0, 10);
    return { fileName: `assets/${name}-${hash}.${extension}`, source };
  };
  const script = asset('yoga-graphiql', 'js', yogaGraphiQL.js);
  const style = asset('yoga-graphiql', 'css', yogaGraphiQL.css);
  // Labels as Monaco asks for them (MonacoEnvironment.getWorkerUrl).
  const workers = {
    editorWorkerService: asset('graphiql-editor-worker', 'js', yogaGraphiQL.editorWorkerService),
    json: asset('graphiql-json-worker', 'js', yogaGraphiQL.jsonWorker),
    graphql: asset('graphiql-graphql-worker', 'js', yogaGraphiQL.graphqlWorker),
  };
  const virtualId = 'virtual:yoga-graphiql';
  return {
    name: 'peertrust:yoga-graphiql',
    resolveId: (id) => (id === virtualId ? `\0${virtualId}` : undefined),
    load(id) {
      if (id !== `\0${virtualId}`) return undefined;
      const workerUrls = Object.fromEntries(Object.entries(workers).map(([label, file]) => [label, `/${file.fileName}`]));
      return `export const scriptUrl = ${JSON.stringify(`/${script.fileName}`)};\nexport const workerUrls = ${JSON.stringify(workerUrls)};`;
    },
    generateBundle() {
      for (const file of [script, style, ...Object.values(workers)]) this.emitFile({ type: 'asset', ...file });
    },
    transformIndexHtml: {
      order: 'post',
      handler: (_html, context) =>
        context.path.endsWith('/graphiql.html')
          ? [
              // The page's module runs the script (scriptUrl); fetching it starts at once.
              { tag: 'link', attrs: { rel: 'preload', as: 'script', href: `/${script.fileName}` }, injectTo: 'head' },
              { tag: 'link', attrs: { rel: 'stylesheet', href: `/${style.fileName}` }, injectTo: 'head' },
            ]
          : [],
    },
  };
}

export default defineConfig({
  root,
  base: '/',
  // No public/ directory: every file the console serves has a hashed name.
  publicDir: false,
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    // The GraphiQL bundle is large by nature and loaded only by GraphiQL.
    chunkSizeWarningLimit: 6000,
    rolldownOptions: {
      input: { console: `${root}index.html`, graphiql: `${root}graphiql.html` },
      // Compressing takes most of the build, as it should; no report about it.
      checks: { bundlerTimings: false },
    },
  },
  plugins: [
    yogaGraphiQLAssets(),
    // Brotli's best for the console's own files, read at every first visit. GraphiQL's
    // 8 MB take 16 s at that level, 1 s at level 9 for 10% more bytes, sent once.
    compression({ algorithms: ['gzip', 'brotliCompress'], threshold: 1024, exclude: GRAPHIQL_ASSETS }),
    compression({
      algorithms: ['gzip', ['brotliCompress', { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } }]],
      include: GRAPHIQL_ASSETS,
    }),
  ],
});
