// The gRPC client `etcd3` (npm, 1.1) against one endpoint: put, get, prefix, delete, txn,
// lease with keepalive, watch and compaction errors. Prints one line per step; the test
// compares the lines of etcd 3.5.1 and of the gateway's embedded store.
// Usage: node node_etcd3.js HOST:PORT
'use strict';

const { Etcd3 } = require('etcd3');

const client = new Etcd3({ hosts: `http://${process.argv[2]}` });
const show = (...parts) => console.log(parts.map((part) => JSON.stringify(part)).join(' '));

async function main() {
  await client.put('/js/a').value('1');
  await client.put('/js/b').value('2');
  show('get', await client.get('/js/a').string());
  show('get missing', await client.get('/js/none').string());
  show('prefix', await client.getAll().prefix('/js/').strings());
  show('count', await client.getAll().prefix('/js/').count());

  const txn = await client
    .if('/js/a', 'Value', '==', '1')
    .then(client.put('/js/c').value('3'), client.get('/js/b'))
    .else(client.delete().key('/js/c'))
    .commit();
  show('txn', txn.succeeded, txn.responses.map((op) => op.response));
  const otherwise = await client.if('/js/a', 'Version', '>', 5).then().else(client.delete().key('/js/c')).commit();
  show('txn else', otherwise.succeeded, otherwise.responses[0].response_delete_range.deleted);

  const lease = client.lease(30, { autoKeepAlive: false });
  await lease.put('/js/leased').value('x');
  const ttl = await lease.keepaliveOnce();
  show('keepalive', ttl.TTL);
  await lease.revoke();
  show('after revoke', await client.get('/js/leased').string());

  const watcher = await client.watch().key('/js/w').create();
  const seen = new Promise((resolve) => watcher.on('put', (kv) => resolve(kv)));
  await client.put('/js/w').value('v');
  const kv = await seen;
  show('watch', kv.key.toString(), kv.value.toString(), kv.mod_revision);
  await watcher.cancel();

  show('delete', (await client.delete().key('/js/a')).deleted);
  show('delete prefix', (await client.delete().prefix('/js/')).deleted);

  const put = await client.put('/js/z').value('last');
  const revision = Number(put.header.revision);
  await client.kv.compact({ revision: String(revision) });
  show('compact', 'latest', 'ok');
  for (const [name, rev] of [['old', 1], ['future', revision + 100]]) {
    try {
      await client.kv.compact({ revision: String(rev) });
      show('compact', name, 'ok');
    } catch (err) {
      show('compact', name, err.constructor.name, err.message);
    }
  }
}

main()
  .catch((err) => {
    show('error', err.constructor.name, err.message);
    process.exitCode = 1;
  })
  .finally(() => client.close());
