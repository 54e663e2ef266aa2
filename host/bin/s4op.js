#!/usr/bin/env node
// The `s4op` command. A committed file, not dist/cli/main.js itself: npm links bins before `prepare` builds
// dist/, and skips a bin whose target is missing, which left a fresh clone without `npx s4op`.
import '../dist/cli/main.js';
