#!/usr/bin/env node
// The `spinet` command: build | sim | bench | ports | flash.
import { Command, Option } from 'commander'
import { VERSION } from '../firmware/version.js'
import { runBuild } from './build-command.js'
import { runSim } from './sim.js'
import { runBench } from './bench.js'

const program = new Command()
program.name('spinet').description('TCP/IP firmware for SPI Ethernet chips, and its virtual board').version(VERSION)

program.command('build')
  .description('print the arena map of a board and write its device bundle (build/boards/NAME.js)')
  .option('--board <name>', 'board file name in boards/ (all boards when omitted)')
  .option('--no-bundle', 'only check the budget and print the map')
  .action(async (opts: { board?: string; bundle: boolean }) => { process.exitCode = await runBuild(opts) })

program.command('sim')
  .description('run the example firmware on the virtual board')
  .option('--board <name>', 'board file', 'host')
  .addOption(new Option('--chip <chip>', 'simulated chip').choices(['enc28j60', 'w5500']))
  .addOption(new Option('--core <core>', 'hot-path backend').choices(['wasm', 'portable']))
  .action(async (opts: { board: string; chip?: 'enc28j60' | 'w5500'; core?: 'wasm' | 'portable' }) => {
    process.exitCode = await runSim(opts)
  })

program.command('bench')
  .description('checksum throughput per backend and the arena size of every board')
  .option('--quick', 'shorter runs (less precise)')
  .action(async (opts: { quick?: boolean }) => { process.exitCode = await runBench(opts) })

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error('spinet: ' + (err instanceof Error ? err.message : String(err)))
  process.exitCode = 1
})
