'use strict';
// Comparison server of bench/run.sh: a minimal Node.js SNS endpoint that
// validates each POST body with AWS's sns-validator package and responds
// 200 after a valid signature, 403 otherwise.  It stores and forwards
// nothing, so it does less work per message than snsrelay.
//
// Environment:
//   BENCH_CERT_HOST  "host:port" of the signing certificate URL; the
//                    validator accepts certificate URLs on this host only
//   BENCH_PORT_FILE  file the listening port is written to once the server
//                    accepts connections
//   NODE_EXTRA_CA_CERTS  the test CA, so that the validator's https.get
//                    trusts the loopback certificate host
//
// It listens on 127.0.0.1 on a free port, answers POST /sns only, and
// exits on SIGTERM or SIGINT.

const fs = require('fs');
const http = require('http');
const MessageValidator = require('sns-validator');

// The relay's default max_body_bytes.
const MAX_BODY_BYTES = 1024 * 1024;
// Rejections logged in full; later ones are only counted.
const MAX_LOGGED_REJECTIONS = 5;

function requiredEnv(name) {
    const value = process.env[name];

    if (!value) {
        console.error(`server.js: ${name} is not set; run it from bench/run.sh`);
        process.exit(2);
    }
    return value;
}

const certHost = requiredEnv('BENCH_CERT_HOST');
const portFile = requiredEnv('BENCH_PORT_FILE');
const escapedHost = certHost.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// sns-validator tests this pattern against the URL's host, port included.
const validator = new MessageValidator(new RegExp(`^${escapedHost}$`));
let rejections = 0;

function answer(res, status, document) {
    const body = JSON.stringify(document);

    res.writeHead(status, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
}

function validateBody(res, text) {
    validator.validate(text, (err, message) => {
        if (err) {
            rejections++;
            if (rejections <= MAX_LOGGED_REJECTIONS) {
                console.error(`server.js: rejected: ${err.message}`);
            }
            answer(res, 403, { error: err.message });
            return;
        }
        answer(res, 200, { result: 'accepted', message_id: message.MessageId });
    });
}

const server = http.createServer((req, res) => {
    if (req.url !== '/sns') {
        answer(res, 404, { error: `unknown path ${req.url}` });
        return;
    }
    if (req.method !== 'POST') {
        answer(res, 405, { error: `method ${req.method} not allowed` });
        return;
    }
    const chunks = [];
    let size = 0;
    let tooLarge = false;

    req.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
            tooLarge = true;
        } else {
            chunks.push(chunk);
        }
    });
    req.on('end', () => {
        if (tooLarge) {
            answer(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });
            return;
        }
        validateBody(res, Buffer.concat(chunks).toString('utf8'));
    });
});

function stop() {
    if (rejections > MAX_LOGGED_REJECTIONS) {
        console.error(`server.js: ${rejections} rejections in all`);
    }
    process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
server.listen(0, '127.0.0.1', () => {
    fs.writeFileSync(portFile, `${server.address().port}\n`);
});
