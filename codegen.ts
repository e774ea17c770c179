import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the urql client and the web console, from schema.graphql (printed
// from the Pothos schema).
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['client/operations.graphql', 'console/src/**/*.graphql'],
  silent: true,
  generates: {
    'client/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: { DateTime: 'string', ID: 'string' },
      },
    },
  },
};

export default config;
