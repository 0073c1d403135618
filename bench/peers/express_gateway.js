// Express peer for bench/run aggregate: the product-details endpoint written the way Node
// backend-for-frontend gateways commonly are (an Express app, axios with a keep-alive agent,
// Promise.all over the backends, res.json of the merged object). It gives the same members and
// values as the product-details route of bench/conf/aggregate.yaml:
//   {product: <catalog body>, stock: <inventory body>.count, reviews: <reviews body>}
// with reviews optional (a failed call gives the same default as ringgate's route).
//
// usage: node bench/peers/express_gateway.js [PORT]   (PORT also from $PORT; default 18084)
// Backends from $CATALOG, $INVENTORY, $REVIEWS (base URLs; defaults 127.0.0.1:18091..18093).
// express and axios are Debian's packages (node-express, node-axios) under /usr/share/nodejs:
// Debian's own node searches there by default, another build (bench/run starts it so) needs
// NODE_PATH=/usr/share/nodejs.
'use strict';

const http = require('http');

let express;
let axios;
try {
  express = require('express');
  axios = require('axios');
} catch (err) {
  console.error(`express_gateway: ${err.message}\n` +
    'install Debian\'s node-express and node-axios and run with NODE_PATH=/usr/share/nodejs');
  process.exit(1);
}

const port = Number(process.argv[2] || process.env.PORT || 18084);
const catalog = process.env.CATALOG || 'http://127.0.0.1:18091';
const inventory = process.env.INVENTORY || 'http://127.0.0.1:18092';
const reviews = process.env.REVIEWS || 'http://127.0.0.1:18093';

// One pooled agent for every backend call, as the gateway's keep-alive pools are.
const api = axios.create({
  httpAgent: new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024 }),
  timeout: 5000,
});

const noReviews = { rating: null, count: 0, items: [] };

const app = express();

app.get('/bench/products/:id', async (req, res) => {
  const id = encodeURIComponent(req.params.id);
  try {
    const [product, stock, rev] = await Promise.all([
      api.get(`${catalog}/products/${id}`),
      api.get(`${inventory}/inventory/${id}`),
      api.get(`${reviews}/reviews/${id}`).catch(() => ({ data: noReviews })),
    ]);
    res.json({ product: product.data, stock: stock.data.count, reviews: rev.data });
  } catch (err) {
    res.status(502).json({ error: 'backend failed', detail: err.message });
  }
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`express_gateway listening on 127.0.0.1:${port}`);
});
// Idle client connections stay open as long as the other servers' in this suite (600 s).
server.keepAliveTimeout = 600000;
