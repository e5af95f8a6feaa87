// Swallows everything.
pipy()

.listen(+os.env.PORT)
.dummy()
