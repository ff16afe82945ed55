#!/usr/bin/env python3
"""An SMTP server for the subscribers bench on 127.0.0.1: it speaks enough
of RFC 5321 for a client (EHLO, MAIL, RCPT, DATA with the dot ending,
RSET, NOOP, QUIT), keeps nothing but a count, and writes the count and
the time of the first and last message to STATS_FILE every 100 ms.
(Python 3.12 dropped `smtpd`; aiosmtpd is not in the standard library.)

    bench/smtp-sink.py PORT_FILE STATS_FILE
"""
import asyncio
import json
import sys
import time

STATE = {"messages": 0, "first": None, "last": None, "bytes": 0}


async def session(reader, writer):
    writer.write(b"220 sink ESMTP\r\n")
    while True:
        line = await reader.readline()
        if not line:
            break
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
        elif verb == b"DATA":
            writer.write(b"354 go on\r\n")
            await writer.drain()
            size = 0
            while True:
                data = await reader.readline()
                if not data or data == b".\r\n":
                    break
                size += len(data)
            now = time.time()
            STATE["messages"] += 1
            STATE["bytes"] += size
            STATE["first"] = STATE["first"] or now
            STATE["last"] = now
            writer.write(b"250 queued\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()
    writer.close()


async def report(path):
    while True:
        with open(path + ".tmp", "w") as f:
            json.dump(STATE, f)
        import os
        os.replace(path + ".tmp", path)
        await asyncio.sleep(0.1)


async def main():
    server = await asyncio.start_server(session, "127.0.0.1", 0)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    asyncio.create_task(report(sys.argv[2]))
    async with server:
        await server.serve_forever()


asyncio.run(main())
