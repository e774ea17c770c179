import { Role } from '../db/generated/prisma/enums.js';
import { builder } from './builder.js';

export const RoleEnum = builder.enumType(Role, {
  name: 'Role',
  description: 'What a user may do.',
  values: {
    ADMINISTRATOR: { description: 'May approve, deny and revoke trust and decommission servers.' },
    READ_ONLY: { description: 'May read trust and its history, and receive notices.' },
  },
});

builder.prismaObject('User', {
  description: 'A person or automation that uses the API with a bearer token.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier.' }),
    name: t.exposeString('name', { description: 'The name the token was created for.' }),
    role: t.expose('role', { type: RoleEnum, description: 'What this user may do.' }),
  }),
});
