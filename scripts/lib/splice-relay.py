# Reference for the egress benchmark, not part of Warden: the leanest user-space TCP relay there is
# (kernel splice(2), no byte ever copied into the process). What it reaches on this machine is the
# ceiling for any proxy that terminates TCP, Warden's included.  Usage: splice-relay.py TARGET_PORT
import fcntl, json, os, socket, sys, threading

F_SETPIPE_SZ = 1031
target = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(json.dumps({"port": srv.getsockname()[1]}), flush=True)

def pump(src, dst):
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass
    try:
        while True:
            n = os.splice(src.fileno(), w, 1 << 20)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dst.fileno(), n)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", target))
    for a, b in ((u, c), (c, u)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
