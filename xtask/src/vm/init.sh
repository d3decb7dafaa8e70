#!/bin/busybox sh
# The guest's /init for `cargo xtask vm-test`. Mounts what the agent needs,
# prints what the kernel offers, runs the guard tests and prints one line
# per result, then powers off. The guest's exit status cannot reach the
# host, so the host reads these sentinel lines from the serial console:
#   GMR-VM-BOOTED <uname -r>
#   GMR-VM-LSM <active LSMs>
#   GMR-VM-CHECK <gmr-agent check --format json, on one line>
#   GMR-VM-RESULT <test> PASS|FAIL <detail>
#   GMR-VM-DONE

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t cgroup2 cgroup2 /sys/fs/cgroup

echo "GMR-VM-BOOTED $(uname -r)"
echo "GMR-VM-LSM $(cat /sys/kernel/security/lsm)"
echo "GMR-VM-CHECK $(gmr-agent check --format json 2>/dev/null | tr -d '\n')"

TAG=gmr-vm
CG=/sys/fs/cgroup/$TAG
REPORTS=/tmp/reports
mkdir $CG

failed=no
result() {
    echo "GMR-VM-RESULT $1 $2 $3"
    [ $2 = PASS ] || failed=yes
}

# wait_for SECONDS COMMAND...: true once COMMAND succeeds, polled every 0.2 s.
wait_for() {
    tries=$(($1 * 5))
    shift
    while [ $tries -gt 0 ]; do
        "$@" && return 0
        sleep 0.2
        tries=$((tries - 1))
    done
    return 1
}

# signal_bit MASK-NAME PID: SIGUSR2's bit (12, bit 11) of SigCgt or SigIgn.
signal_bit() {
    mask=$(awk "/^$1:/ { print \$2 }" /proc/$2/status)
    echo $(((0x$mask >> 11) & 1))
}
catches_usr2() { [ "$(signal_bit SigCgt $1)" = 1 ]; }
default_usr2() { [ "$(signal_bit SigCgt $1)$(signal_bit SigIgn $1)" = 00 ]; }
in_tag() { grep -q "/$TAG\$" /proc/$1/cgroup; }
ready_or_gone() { grep -q "agent ready" /tmp/agent.log || ! alive $1; }
alive() { [ -d /proc/$1 ] && ! grep -q '^State:.*zombie' /proc/$1/status; }
# reported PID SENDER: a report on PID names SENDER as the requester.
reported() { grep -qs "^requester = pid $2," $REPORTS/$TAG/*_$1.txt; }

# A tagged `sleep` with SIGUSR2's default action (death) survives it, and a report appears.
test_tagged_sleep_survives() {
    sh -c "echo \$\$ > $CG/cgroup.procs && exec sleep 1000" &
    pid=$!
    wait_for 10 in_tag $pid && wait_for 10 default_usr2 $pid
    kill -USR2 $pid &
    sender=$!
    wait $sender
    wait_for 60 reported $pid $sender && report=yes || report=no
    sleep 1
    alive $pid && survived=yes || survived=no
    [ $report$survived = yesyes ] && verdict=PASS || verdict=FAIL
    result tagged-sleep-survives $verdict "survived=$survived,report=$report"
    kill -KILL $pid 2>/dev/null
}

# An untagged `sleep` dies of SIGUSR2 as usual.
test_untagged_sleep_dies() {
    sleep 1000 &
    pid=$!
    wait_for 10 default_usr2 $pid
    kill -USR2 $pid
    wait $pid
    status=$?
    [ $status = 140 ] && verdict=PASS || verdict=FAIL
    result untagged-sleep-dies $verdict "exit-status=$status"
}

# A tagged target with its own SIGUSR2 handler gets both: its handler runs and a report appears.
test_handler_and_report() {
    sh -c "echo \$\$ > $CG/cgroup.procs && trap 'echo handled > /tmp/handled' USR2 && while true; do sleep 0.2; done" &
    pid=$!
    wait_for 10 in_tag $pid && wait_for 10 catches_usr2 $pid
    kill -USR2 $pid &
    sender=$!
    wait $sender
    wait_for 60 reported $pid $sender && report=yes || report=no
    wait_for 10 [ -e /tmp/handled ] && handled=yes || handled=no
    [ $report$handled = yesyes ] && verdict=PASS || verdict=FAIL
    result handler-and-report $verdict "handler=$handled,report=$report"
    kill -KILL $pid 2>/dev/null
}

RUST_LOG=info gmr-agent run --tag $CG --report-dir $REPORTS --no-target-stderr >/tmp/agent.log 2>&1 &
agent=$!
wait_for 120 ready_or_gone $agent
if grep -q "agent ready" /tmp/agent.log; then
    test_tagged_sleep_survives
    test_untagged_sleep_dies
    test_handler_and_report
else
    result agent-ready FAIL "the agent exited or did not log 'agent ready' within 120 s"
fi
kill -TERM $agent
wait $agent
sed 's/^/agent| /' /tmp/agent.log
[ $failed = no ] || dmesg | sed 's/^/dmesg| /'
echo GMR-VM-DONE
poweroff -f
