#!/usr/bin/env node
// The `spinet` command: build | sim | bench | ports | flash.
import { Command, Option } from 'commander'
import { VERSION } from '../firmware/version.js'
import { runBuild } from './build-command.js'
import { runSim, SimOptions } from './sim.js'
import { runBench } from './bench.js'

const program = new Command()
program.name('spinet').description('TCP/IP firmware for SPI Ethernet chips, and its virtual board').version(VERSION)

program.command('build')
  .description('print the arena map of a board and write its device bundle (build/boards/NAME.js)')
  .option('--board <name>', 'board file name in boards/ (all boards when omitted)')
  .option('--no-bundle', 'only check the budget and print the map')
  .action(async (opts: { board?: string; bundle: boolean }) => { process.exitCode = await runBuild(opts) })

program.command('sim')
  .description('run the example firmware on the virtual board (as root with no cable option: in a fresh network namespace on a TAP)')
  .option('--board <name>', 'board file', 'host')
  .addOption(new Option('--chip <chip>', 'simulated chip (default: the board\'s)').choices(['enc28j60', 'w5500']))
  .addOption(new Option('--core <core>', 'hot-path backend (default: the board\'s)').choices(['wasm', 'portable']))
  .option('--tap <name>', 'cable: a Linux TAP device (needs root or CAP_NET_ADMIN; exists while the board runs)')
  .option('--udp <localport:host:port>', 'cable: one Ethernet frame per UDP datagram (socat, QEMU dgram)')
  .option('--pcap <file>', 'record what crosses the cable')
  .option('--loss <p>', 'drop each frame with probability p')
  .option('--dup <p>', 'duplicate each frame with probability p')
  .option('--reorder <p>', 'hold a frame back behind the next with probability p')
  .option('--corrupt <p>', 'flip a bit in a frame with probability p')
  .option('--delay <ms>', 'delay every frame')
  .option('--seed <n>', 'seed of the fault generator')
  .option('--ip <a.b.c.d/nn>', 'static address (default: the board file\'s)')
  .option('--gateway <a.b.c.d>', 'default gateway')
  .option('--dhcp', 'get an address by DHCP')
  .option('--mac <mac>', 'MAC address (default: the board file\'s)')
  .option('--host-ip <a.b.c.d/nn>', 'give the TAP\'s Linux side this address and bring it up')
  .option('--stats <seconds>', 'print counters every N seconds')
  .action(async (opts: SimOptions) => { process.exitCode = await runSim(opts) })

program.command('bench')
  .description('checksum throughput per backend and the arena size of every board')
  .option('--quick', 'shorter runs (less precise)')
  .action(async (opts: { quick?: boolean }) => { process.exitCode = await runBench(opts) })

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error('spinet: ' + (err instanceof Error ? err.message : String(err)))
  process.exitCode = 1
})
