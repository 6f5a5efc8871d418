#!/usr/bin/env python3
"""A TCP forwarder that can be cut like a network partition.

    blackhole.py LISTEN_PORT TARGET_PORT PIDFILE

Forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. SIGUSR1 cuts it:
bytes stop flowing both ways and new connections are accepted but not
served, as when packets are dropped (nothing is closed, so the ends only
notice by their own timeouts). SIGUSR2 heals it.
"""
import asyncio
import os
import signal
import sys


async def main():
    listen, target, pidfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    flowing = asyncio.Event()
    flowing.set()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, flowing.clear)
    loop.add_signal_handler(signal.SIGUSR2, flowing.set)

    async def pump(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                await flowing.wait()
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def serve(client_r, client_w):
        await flowing.wait()
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, up_w), pump(up_r, client_w))

    server = await asyncio.start_server(serve, "127.0.0.1", listen)
    with open(pidfile, "w") as f:
        f.write(str(os.getpid()))
    async with server:
        await server.serve_forever()


asyncio.run(main())
