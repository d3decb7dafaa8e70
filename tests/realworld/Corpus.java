// The OpenJDK program of gmr's real-world corpus: a few threads parked in
// different ways and one parked at the bottom of a 10,000-call recursion.
// Prints "ready" once every thread is where it stays.

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.LockSupport;

public class Corpus {
    static final int DEPTH = 10_000;
    static final CountDownLatch READY = new CountDownLatch(4);
    static final Object MONITOR = new Object();

    static int recurse(int depth) {
        if (depth == 0) {
            READY.countDown();
            LockSupport.park();
            return 0;
        }
        return recurse(depth - 1) + 1;
    }

    static Thread start(String name, long stackBytes, Runnable body) {
        Thread thread = new Thread(null, body, name, stackBytes);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    public static void main(String[] args) throws Exception {
        start("corpus-park", 0, () -> {
            READY.countDown();
            while (true) LockSupport.park();
        });
        start("corpus-sleep", 0, () -> {
            READY.countDown();
            while (true) {
                try { Thread.sleep(60_000); } catch (InterruptedException e) { return; }
            }
        });
        start("corpus-wait", 0, () -> {
            synchronized (MONITOR) {
                READY.countDown();
                while (true) {
                    try { MONITOR.wait(); } catch (InterruptedException e) { return; }
                }
            }
        });
        start("corpus-deep", 512L << 20, () -> recurse(DEPTH));
        READY.await();
        System.out.println("ready");
        System.out.flush();
        while (true) Thread.sleep(60_000);
    }
}
