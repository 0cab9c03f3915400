import { storageSuite } from './storage.suite.js';
import { MemoryStorage } from './storage.js';

storageSuite('MemoryStorage', async () => ({ storage: new MemoryStorage(), cleanup: async () => {} }));
