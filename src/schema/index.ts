import { builder } from './builder.js';
import './scalars.js';
import './errors.js';
import './user.js';
import './root-key.js';
import './server.js';
import './peer-trust.js';
import './trust-event.js';
import '../resolvers/query.js';
import '../resolvers/mutation.js';
import '../resolvers/subscription.js';

export const schema = builder.toSchema({ sortSchema: true });
