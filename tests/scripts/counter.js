// A per-connection context variable counting the requests of one connection.
pipy({
  _n: 0,
})

.listen(+os.env.PORT)
.serveHTTP(
  () => new Message(`${++_n}`)
)
