#!/usr/bin/env node
// Starts dynalite in memory on 127.0.0.1 and a port the OS picks, then prints
// "port <N>" on stdout, so a test fixture never races another process for a port.
// (dynalite's own CLI treats --port 0 as "unset" and falls back to 4567.)
'use strict'

const dynalite = require('dynalite')

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port ${server.address().port}\n`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)))
}
