import { memoryStore } from '../../src/index.js';
import { entitlementsSuite } from './entitlements.suite.js';

entitlementsSuite('memory store', async () => memoryStore());
