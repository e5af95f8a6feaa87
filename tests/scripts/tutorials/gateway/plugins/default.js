// Last plugin of the chain: whatever nobody handled is answered with a 404.
pipy()

.pipeline('request')
  .replaceMessage(
    new Message({ status: 404 }, 'No handler')
  )
