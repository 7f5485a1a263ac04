import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// The two-instance suite: run by scripts/test.sh against two servers on one Postgres database.
export default defineConfig({ ...base, testDir: './multi' });
