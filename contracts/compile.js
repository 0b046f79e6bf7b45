#!/usr/bin/env node
// Compile contracts/Anchor.sol with the solc-js pinned in package.json and write
// contracts/Anchor.json (ABI + bytecode). Deterministic: the same source and compiler give
// byte-identical output, which tests/ledger/test_contract.py checks.
//
//   npm run compile:contracts            # writes contracts/Anchor.json
//   node contracts/compile.js --out X    # writes X instead (used by the test)
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const SOURCE = "Anchor.sol";
const CONTRACT = "Anchor";

function main(argv) {
  const outIndex = argv.indexOf("--out");
  const out = outIndex >= 0 ? argv[outIndex + 1] : path.join(__dirname, `${CONTRACT}.json`);
  const input = {
    language: "Solidity",
    sources: { [SOURCE]: { content: fs.readFileSync(path.join(__dirname, SOURCE), "utf8") } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      metadata: { bytecodeHash: "none" },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage);
  if (errors.length) process.exit(1);
  const compiled = output.contracts[SOURCE][CONTRACT];
  const artifact = {
    contractName: CONTRACT,
    sourceName: `contracts/${SOURCE}`,
    compiler: { name: "solc-js", version: solc.version(), settings: input.settings },
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
  };
  fs.writeFileSync(out, `${JSON.stringify(artifact, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

main(process.argv.slice(2));
