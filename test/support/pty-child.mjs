// Another process attaching to a terminal session by id (sb.ptys.connect): types a line, prints what
// the terminal showed after it, and exits with the session's code. argv: sandbox id, session id, line.
import { Warden } from '../../dist/index.js';

const [sandboxId, ptyId, line] = process.argv.slice(2);
const warden = new Warden({ owner: 'pty-child' });
const sb = await warden.get(sandboxId);
const pty = await sb.ptys.connect(ptyId, { cols: 90, rows: 20 });
let seen = '';
pty.onData((b) => {
  seen += b.toString();
});
pty.write(line);
const exit = await pty.wait();
process.stdout.write(JSON.stringify({ exit, seen }));
process.exit(0);
