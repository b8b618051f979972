// `@modelcontextprotocol/server-everything` in its Streamable HTTP mode (its own `dist/index.js streamableHttp`,
// serving `/mcp`) on 127.0.0.1 only: it reads its port from PORT and would listen on every interface, so its
// listen is given the loopback host. Prints "listening <port>" on stdout once it accepts connections.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  if ((typeof port === 'number' || typeof port === 'string') && typeof rest[0] !== 'string') {
    this.once('listening', () => process.stdout.write(`listening ${this.address().port}\n`));
    return listen.call(this, Number(port), '127.0.0.1', ...rest);
  }
  return listen.call(this, port, ...rest);
};

process.argv.splice(2, process.argv.length, 'streamableHttp');
await import('@modelcontextprotocol/server-everything/dist/index.js');
