import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isEnumType, isInputObjectType, isInterfaceType, isObjectType, isUnionType, printSchema } from 'graphql';
import { expect, test } from 'vitest';
import { schema } from '../src/schema/index.js';

test('schema.graphql is the printed schema (else: npm run generate)', async () => {
  const committed = await readFile(path.resolve(import.meta.dirname, '../schema.graphql'), 'utf8');
  expect(committed).toBe(`${printSchema(schema)}\n`);
});

test('every type, field, argument and enum value has a description', () => {
  const missing: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || ['String', 'Boolean', 'Int', 'Float', 'ID'].includes(type.name)) continue;
    if (!type.description) missing.push(type.name);
    if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        if (!field.description) missing.push(`${type.name}.${field.name}`);
        for (const arg of 'args' in field ? field.args : []) {
          if (!arg.description && !['first', 'after', 'last', 'before'].includes(arg.name)) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
    }
    if (isEnumType(type)) {
      for (const value of type.getValues()) if (!value.description) missing.push(`${type.name}.${value.name}`);
    }
  }
  expect(missing).toEqual([]);
});

test('the API contract of DESIGN.md', () => {
  const fields = (name: string) => Object.keys((schema.getType(name) as { getFields(): object }).getFields()).sort();
  expect(fields('Query')).toEqual(['peerTrust', 'peerTrusts', 'servers', 'thisServer', 'trustHistory', 'verifyTrustHistory', 'viewer']);
  expect(fields('Mutation')).toEqual(['approveTrust', 'decommissionServer', 'denyTrust', 'revokeTrust', 'rotateRootKey']);
  expect(fields('Subscription')).toEqual(['peerTrustChanged', 'serverStatusChanged', 'trustApprovalRequired', 'trustEvents']);
  expect(fields('Server')).toEqual(expect.arrayContaining(['id', 'name', 'addresses', 'fingerprint', 'rootKeys', 'status', 'lastSeenAt', 'isThisServer']));
  expect(fields('PeerTrust')).toEqual(expect.arrayContaining(['id', 'peer', 'status', 'approvedByThisServer', 'approvedByPeer', 'approvalRequired', 'updatedAt']));
  expect(fields('TrustEvent')).toEqual(expect.arrayContaining(['id', 'kind', 'at', 'actor', 'peerTrust', 'fingerprints']));
  expect(fields('RootKey')).not.toContain('privateKey');
  for (const name of ['ServerConnection', 'PeerTrustConnection', 'TrustEventConnection']) expect(schema.getType(name)).toBeDefined();
  for (const name of ['ApproveTrustResult', 'DenyTrustResult', 'RevokeTrustResult', 'DecommissionServerResult', 'RotateRootKeyResult']) {
    expect(isUnionType(schema.getType(name))).toBe(true);
  }
});
