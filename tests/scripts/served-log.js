// Logs a running count of served requests and answers each with a freshly built 100 kB body,
// for the back-pressure test.
pipy({
  _n: 0,
})

.listen(+os.env.PORT)
.serveHTTP(
  () => (console.log(`served ${++_n}`), new Message('x'.repeat(100000)))
)
