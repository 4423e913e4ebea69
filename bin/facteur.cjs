#!/usr/bin/env node
// The `facteur` command. This file is CommonJS on purpose: it must set the size of libuv's thread pool
// before anything uses it, and an ES module entry is itself read through that pool. Every fsync and
// rename runs there; the default 4 threads would cap the fsyncs in flight at 4 across all sessions.
'use strict';
process.env.UV_THREADPOOL_SIZE ??= '32';
import('../dist/src/cli/main.js').catch((err) => {
  console.error(err);
  process.exit(1);
});
