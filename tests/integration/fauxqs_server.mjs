// fauxqs (SQS emulator, npm) for the integration tests, on 127.0.0.1 only.
//
// fauxqs's own CLI listens on 0.0.0.0; its documented buildApp() lets us
// choose the address. Usage: node fauxqs_server.mjs PACKAGE_DIR [PORT]
// (PACKAGE_DIR: .../node_modules/fauxqs). Prints the base URL, then serves
// until its standard input closes (the test process ended, however).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.argv[2];
const port = parseInt(process.argv[3] ?? "0", 10);
const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const entry = pkg.exports?.["."]?.import?.default ?? pkg.main;
const { buildApp } = await import(pathToFileURL(join(dir, entry)).href);

const app = buildApp({ logger: false });
const address = await app.listen({ port, host: "127.0.0.1" });
console.log(address);

const stop = async () => {
	await app.close();
	process.exit(0);
};
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
