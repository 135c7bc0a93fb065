// An S3-compatible server for the integration tests: @20minutes/s3rver on
// 127.0.0.1, checking Signature V4 against the key pairs it is given.
//
//   node s3rver_main.js CONFIG_JSON
//   CONFIG_JSON: {"directory": DIR, "keys": [[ACCESS_KEY_ID, SECRET], ...],
//                 "buckets": [NAME, ...]}
//
// Prints "READY PORT" once it listens (on a port the system picked).
// s3rver itself serves unsigned requests for every bucket; to test what a
// private bucket does, GETs and HEADs without a signature to a bucket whose
// name starts with "private-" are refused with AccessDenied, as S3 does.
'use strict';

const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');
const S3Error = require('@20minutes/s3rver/lib/models/error');

const config = JSON.parse(process.argv[2]);
const account = new AWSAccount(123456789012, 'zarrmount-tests');
for (const [id, secret] of config.keys) account.createKeyPair(id, secret);

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: config.directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: config.buckets.map((name) => ({ name })),
});

function signed(ctx) {
  return 'authorization' in ctx.headers || 'X-Amz-Algorithm' in ctx.query ||
    'Signature' in ctx.query;
}

server.middleware.unshift(async (ctx, next) => {
  const bucket = ctx.path.split('/')[1] || '';
  if (bucket.startsWith('private-') && !signed(ctx) &&
      (ctx.method === 'GET' || ctx.method === 'HEAD')) {
    throw new S3Error('AccessDenied', 'Access Denied');
  }
  return next();
});

server.run().then((address) => {
  process.stdout.write(`READY ${address.port}\n`);
}, (err) => {
  process.stderr.write(`s3rver failed to start: ${err}\n`);
  process.exit(1);
});

process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
