"""cgroups without root: resource parsing, v1->v2 conversion, and both managers on a fake cgroupfs
(plain directories and files in tmp_path). The real kernel is in tests/integration/test_cgroups.py."""
import os

import pytest

from runtime import cgroups
from runtime import units
from runtime.cgroups import devices, resources, v1, v2
from runtime.errors import CgroupError, InvalidArgument, InvalidSpec

MiB = 1024 * 1024


def parse(raw):
    res, _ = resources.parse(raw)
    return res


# -- parsing -----------------------------------------------------------------------------------------

def test_zero_means_unset_and_minus_one_unlimited():
    res = parse({"memory": {"limit": 0, "swap": -1}, "cpu": {"shares": 0, "quota": -1, "cpus": ""},
                 "pids": {"limit": 0}})
    assert res == {"memory": {"swap": -1}, "cpu": {"quota": -1}}


@pytest.mark.parametrize("raw, words", [
    ({"memory": {"limit": -5}}, "memory.limit must be -1"),
    ({"memory": {"limit": 2 ** 70}}, "out of range"),
    ({"memory": {"limit": 1024}}, "below the minimum"),
    ({"memory": {"limit": "64m"}}, "must be an integer"),
    ({"memory": {"limit": 64 * MiB, "swap": 32 * MiB}}, "must not be below memory.limit"),
    ({"memory": {"swappiness": 101}}, "0..100"),
    ({"cpu": {"shares": 1}}, "out of range"),
    ({"cpu": {"quota": 10}}, "at least 1000"),
    ({"cpu": {"period": 5_000_000}}, "out of range"),
    ({"cpu": {"cpus": "1-0"}}, "is not a list"),
    ({"cpu": {"mems": "x"}}, "is not a list"),
    ({"pids": {"limit": -3}}, "pids.limit"),
    ({"blockIO": {"weight": 5}}, "out of range"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}}, "minor must be a device number"),
    ({"devices": [{"allow": True, "type": "x"}]}, "must be a, b or c"),
    ({"devices": [{"allow": "yes"}]}, "boolean"),
    ({"devices": [{"allow": False, "access": "rwx"}]}, "rwm"),
    ({"unified": {"../memory.max": "1"}}, "is not a controller file"),
    ({"unified": {"cgroup.procs": "1"}}, "is not a controller file"),
    ({"memory": []}, "must be an object"),
])
def test_bad_resources_are_refused_with_the_field_named(raw, words):
    with pytest.raises(InvalidSpec) as e:
        resources.parse(raw, "config.json: linux.resources")
    assert words in e.value.msg and "config.json: linux.resources." in e.value.msg


def test_ignored_sections_are_noted_not_refused():
    res, notes = resources.parse({"rdma": {"mlx4_0": {"hcaHandles": 1}}, "memory": {"kernel": 1}})
    assert res == {} and len(notes) == 2


def test_parse_bytes():
    assert units.parse_bytes("64m", "memory") == 64 * MiB
    assert units.parse_bytes("1g", "memory") == 1024 * MiB
    assert units.parse_bytes("1024", "memory") == 1024
    assert units.parse_bytes("2kb", "memory") == 2048
    assert units.parse_bytes("-1", "memory") == -1
    for bad in ("lots", "-5", "12q"):
        with pytest.raises(InvalidArgument):
            units.parse_bytes(bad, "memory")


def test_merge_carries_coupled_values_and_checks_the_result():
    current = {"cpu": {"quota": 50000, "period": 100000}, "memory": {"limit": 64 * MiB, "swap": 128 * MiB}}
    merged, apply = resources.merge(current, {"cpu": {"quota": 20000}})
    assert merged["cpu"] == {"quota": 20000, "period": 100000}
    assert apply == {"cpu": {"quota": 20000, "period": 100000}}  # cpu.max is written as a pair
    _, apply = resources.merge(current, {"memory": {"limit": 100 * MiB}})
    assert apply == {"memory": {"limit": 100 * MiB, "swap": 128 * MiB}}
    with pytest.raises(InvalidArgument, match="must not be below"):
        resources.merge(current, {"memory": {"limit": 256 * MiB}})  # above the recorded memory+swap


# -- conversion --------------------------------------------------------------------------------------

def test_shares_to_weight_follows_crun():
    assert v2.shares_to_weight(2) == 1
    assert v2.shares_to_weight(1024) == 39
    assert v2.shares_to_weight(262144) == 10000


def test_to_v2():
    files, notes = v2.to_v2(parse({
        "memory": {"limit": 100 * MiB, "swap": 300 * MiB, "reservation": 50 * MiB, "swappiness": 10},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0", "realtimeRuntime": 5},
        "pids": {"limit": -1},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "unified": {"memory.high": "90000000"},
    }))
    assert files == [("memory.max", str(100 * MiB)), ("memory.swap.max", str(200 * MiB)),
                     ("memory.low", str(50 * MiB)), ("cpu.weight", "39"), ("cpu.max", "50000 100000"),
                     ("cpuset.cpus", "0"), ("pids.max", "max"), ("io.weight", "default 4950"),
                     ("io.max", "8:0 rbps=1048576"), ("memory.high", "90000000")]
    assert any("swappiness" in n for n in notes) and any("realtime" in n for n in notes)


def test_to_v2_swap_and_quota_edges():
    assert v2.to_v2(parse({"cpu": {"quota": -1}}))[0] == [("cpu.max", "max 100000")]
    assert v2.to_v2(parse({"cpu": {"period": 20000}}))[0] == [("cpu.max", "max 20000")]
    assert v2.to_v2(parse({"memory": {"limit": -1}}))[0] == [("memory.max", "max"), ("memory.swap.max", "max")]
    assert v2.to_v2(parse({"memory": {"limit": 64 * MiB, "swap": 64 * MiB}}))[0][1] == ("memory.swap.max", "0")
    with pytest.raises(InvalidArgument, match="needs memory.limit"):
        v2.to_v2(parse({"memory": {"swap": 64 * MiB}}))


def test_to_v1_and_device_rules():
    files, notes = v1.to_v1(parse({"memory": {"limit": 64 * MiB, "swap": -1, "disableOOMKiller": True},
                                          "cpu": {"quota": 50000, "period": 100000, "idle": 1},
                                          "pids": {"limit": 10}}))
    assert files == [("memory", "memory.limit_in_bytes", str(64 * MiB)), ("memory", "memory.memsw.limit_in_bytes", "-1"),
                     ("memory", "memory.oom_control", "1"), ("cpu", "cpu.cfs_period_us", "100000"),
                     ("cpu", "cpu.cfs_quota_us", "50000"), ("pids", "pids.max", "10")]
    assert notes == ["cpu.idle is cgroup v2 only: ignored on this host"]
    rules = parse({"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1,
                                                                    "minor": 3, "access": "rw"},
                               {"allow": True, "type": "c", "major": 136, "access": "rwm"}]})["devices"]
    assert v1.devices_v1(rules) == [("devices.deny", "a"), ("devices.allow", "c 1:3 rw"),
                                           ("devices.allow", "c 136:* rwm")]


def test_resolve_path():
    assert cgroups.resolve_path(None, "c1") == "/hull/c1"
    assert cgroups.resolve_path("/default/c1", "c1") == "/default/c1"
    assert cgroups.resolve_path("mine/c1", "c1") == "/hull/mine/c1"
    assert cgroups.resolve_path(None, "c1", "/run/hull") == "/hull/c1"
    other = cgroups.resolve_path(None, "c1", "/tmp/elsewhere")
    assert other.startswith("/hull/@") and other.endswith("-c1") and other != cgroups.resolve_path(None, "c1", "/tmp/x")
    assert cgroups.resolve_path("mine/c1", "c1", "/tmp/elsewhere") == other[:-3] + "/mine/c1"
    assert cgroups.resolve_path("machine.slice:libpod:abc", "abc") == "/machine.slice/libpod-abc.scope"
    for bad in ("../escape", "/a/../../b", "/"):
        with pytest.raises(InvalidSpec):
            cgroups.resolve_path(bad, "c1")


# -- the managers on a fake tree -----------------------------------------------------------------------

def put(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def get(path):
    with open(path) as f:
        return f.read()


@pytest.fixture
def v2tree(tmp_path):
    root = str(tmp_path)
    put(f"{root}/cgroup.controllers", "cpuset cpu io memory pids hugetlb")
    put(f"{root}/cgroup.subtree_control", "")
    put(f"{root}/cpuset.cpus.effective", "0-1")
    put(f"{root}/cpuset.mems.effective", "0")
    # the kernel would create these in hull/ when it is made; a fake needs them up front
    put(f"{root}/hull/cgroup.controllers", "cpuset cpu io memory pids")
    put(f"{root}/hull/cgroup.subtree_control", "")
    return root


def test_v2_create_apply_and_roll_back(v2tree):
    m = v2.Manager("/hull/c1", root=v2tree)
    m.create()
    assert get(f"{v2tree}/cgroup.subtree_control") == "+cpu +cpuset +hugetlb +io +memory +pids"
    assert m.created == [f"{v2tree}/hull/c1"]  # hull/ existed: not ours to remove
    for name, value in (("memory.max", "max"), ("cpu.max", "max 100000"), ("pids.max", "max"),
                        ("cgroup.procs", "")):
        put(f"{m.dir}/{name}", value)
    notes = m.apply(parse({"memory": {"limit": 64 * MiB}, "cpu": {"quota": 25000}, "pids": {"limit": 5},
                           "blockIO": {"weight": 100}}))
    assert get(f"{m.dir}/memory.max") == str(64 * MiB)
    assert get(f"{m.dir}/cpu.max") == "25000 100000"
    assert get(f"{m.dir}/pids.max") == "5"
    assert any("io.weight" in n for n in notes)
    # a refused value puts back what was already written
    os.remove(f"{m.dir}/pids.max")
    os.mkdir(f"{m.dir}/pids.max")
    with pytest.raises(CgroupError, match="cannot set pids.max to '7'"):
        m.apply(parse({"memory": {"limit": 128 * MiB}, "pids": {"limit": 7}}))
    assert get(f"{m.dir}/memory.max") == str(64 * MiB)


def test_v2_cpuset_must_exist(v2tree):
    m = v2.Manager("/hull/c1", root=v2tree)
    m.create()
    with pytest.raises(CgroupError, match=r"cpus \[2, 3\] do not exist"):
        m.apply(parse({"cpu": {"cpus": "1-3"}}))


def test_v2_stats_and_oom(v2tree):
    m = v2.Manager("/hull/c1", root=v2tree)
    m.create()
    put(f"{m.dir}/cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\n"
                             "nr_throttled 7\nthrottled_usec 300\n")
    put(f"{m.dir}/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    put(f"{m.dir}/memory.current", "4096\n")
    put(f"{m.dir}/memory.max", "max\n")
    put(f"{m.dir}/pids.current", "3\n")
    put(f"{m.dir}/pids.max", "10\n")
    s = m.stats()
    assert s["cpu"]["usage"] == {"total": 2_000_000, "kernel": 500_000, "user": 1_500_000}
    assert s["cpu"]["throttling"] == {"periods": 10, "throttledPeriods": 7, "throttledTime": 300_000}
    assert s["memory"]["usage"]["failcnt"] == 12 and s["memory"]["oomKill"] == 1
    assert s["memory"]["usage"]["limit"] == resources.INT64_MAX
    assert s["pids"] == {"current": 3, "limit": 10}
    assert m.oom_kills() == 1


def test_v2_record_round_trips(v2tree):
    m = v2.Manager("/hull/c1", root=v2tree)
    m.create()
    again = cgroups.load(m.record())
    assert (again.dir, again.created) == (m.dir, m.created)


@pytest.fixture
def v1tree(tmp_path):
    mounts = {c: str(tmp_path / c) for c in ("memory", "cpu", "cpuacct", "pids")}
    for d in mounts.values():
        os.makedirs(d)
    return mounts


def test_v1_create_apply_stats_and_remove(v1tree):
    m = v1.Manager("/hull/c1", mounts=v1tree)
    m.create()
    assert sorted(m.created) == sorted([f"{d}/hull/c1" for d in v1tree.values()] + [f"{d}/hull" for d in v1tree.values()])
    mem = m.dirs["memory"]
    put(f"{mem}/memory.limit_in_bytes", "9223372036854771712")
    put(f"{mem}/memory.memsw.limit_in_bytes", "9223372036854771712")
    put(f"{m.dirs['cpu']}/cpu.cfs_quota_us", "-1")
    put(f"{m.dirs['cpu']}/cpu.cfs_period_us", "100000")
    notes = m.apply(parse({"memory": {"limit": 64 * MiB, "swap": 128 * MiB}, "cpu": {"quota": 50000},
                           "blockIO": {"weight": 300}, "unified": {"memory.high": "1"}}))
    assert get(f"{mem}/memory.limit_in_bytes") == str(64 * MiB)
    assert get(f"{mem}/memory.memsw.limit_in_bytes") == str(128 * MiB)
    assert get(f"{m.dirs['cpu']}/cpu.cfs_quota_us") == "50000"
    assert any("no blkio" in n for n in notes) and any("unified" in n for n in notes)

    put(f"{mem}/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    put(f"{mem}/memory.stat", "cache 10\nrss 20\n")
    put(f"{mem}/memory.usage_in_bytes", "4096")
    put(f"{m.dirs['cpu']}/cpu.stat", "nr_periods 4\nnr_throttled 3\nthrottled_time 999\n")
    put(f"{m.dirs['cpuacct']}/cpuacct.usage", "5000")
    put(f"{m.dirs['pids']}/pids.current", "2")
    put(f"{m.dirs['pids']}/pids.max", "max")
    s = m.stats()
    assert s["memory"]["oomKill"] == 2 and s["memory"]["cache"] == 10 and s["memory"]["usage"]["usage"] == 4096
    assert s["cpu"]["throttling"] == {"periods": 4, "throttledPeriods": 3, "throttledTime": 999}
    assert s["cpu"]["usage"]["total"] == 5000
    assert s["pids"] == {"current": 2, "limit": 0}

    # the fake directories hold plain files, which a real cgroupfs would not: clear them first
    for d in m._unique_dirs():
        for name in os.listdir(d):
            os.remove(os.path.join(d, name))
    m._remove()
    assert not any(os.listdir(d) for d in v1tree.values())


def test_v1_memsw_goes_first_when_the_limit_rises_above_it(v1tree):
    m = v1.Manager("/hull/c1", mounts=v1tree)
    m.create()
    put(f"{m.dirs['memory']}/memory.limit_in_bytes", str(64 * MiB))
    put(f"{m.dirs['memory']}/memory.memsw.limit_in_bytes", str(64 * MiB))
    ctl = m._controller("memory")
    up = [(v1._File(ctl, "memory.limit_in_bytes"), str(256 * MiB)),
          (v1._File(ctl, "memory.memsw.limit_in_bytes"), str(512 * MiB))]
    assert [os.path.basename(f.path) for f, _ in m._order_memory(up)] == \
        ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    down = [(up[0][0], str(32 * MiB)), (up[1][0], str(32 * MiB))]
    assert m._order_memory(down) == down


def test_v1_hierarchies_from_mountinfo(tmp_path):
    put(f"{tmp_path}/mountinfo",
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "90 80 0:32 /docker/x /mnt/memory rw - cgroup cgroup rw,memory\n")
    assert v1.hierarchies(f"{tmp_path}/mountinfo") == {"cpu": "/sys/fs/cgroup/cpu,cpuacct",
                                                       "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                                                       "memory": "/sys/fs/cgroup/memory"}


def test_device_program_checks_rules_last_first_and_stops_at_a_catch_all():
    deny_all = {"allow": False, "type": "a", "access": "rwm"}
    null = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    prog = devices.program([deny_all, null])
    insns = [prog[i:i + 8] for i in range(0, len(prog), 8)]
    assert len(insns) == 6 + 5 + 2  # load the context; null: 3 jumps + r0 = 1, exit; deny-all: r0 = 0, exit
    assert insns[-2:] == [devices._insn(devices._MOV64_K, 0, imm=0), devices._insn(devices._EXIT)]
    # the null rule: type, major and minor jumps each skip to the next rule
    assert [i[0] for i in insns[6:11]] == [devices._JNE_K] * 3 + [devices._MOV64_K, devices._EXIT]
    # no catch-all: anything unmatched is allowed, as in a v1 cgroup without rules
    assert devices.program([null])[-16:] == devices._insn(devices._MOV64_K, 0, imm=1) + devices._insn(devices._EXIT)


# -- net_cls, net_prio, hugetlb: applied where the host has them, else create fails (as runc) ---------

NET_AND_HUGE = {"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]}


def test_network_and_hugepages_convert():
    res = parse(NET_AND_HUGE)
    v1_files, _ = v1.to_v1(res)
    assert ("net_cls", "net_cls.classid", "1048577") in v1_files
    assert ("net_prio", "net_prio.ifpriomap", "eth0 5") in v1_files
    assert ("hugetlb", "hugetlb.2MB.limit_in_bytes", str(4 * MiB)) in v1_files
    v2_files, notes = v2.to_v2(res)
    assert ("hugetlb.2MB.max", str(4 * MiB)) in v2_files
    assert any("net_cls/net_prio" in n for n in notes)  # v2 has no such controllers; runc ignores them too


@pytest.mark.parametrize("raw, words", [
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "pageSize must be a size"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": -1}]}, "limit must be a number"),
    ({"network": {"classID": -1}}, "classID must be"),
    ({"network": {"priorities": [{"name": "", "priority": 1}]}}, "interface name"),
])
def test_bad_network_and_hugepages(raw, words):
    with pytest.raises(InvalidSpec) as e:
        resources.parse(raw, "config.json: linux.resources")
    assert words in e.value.msg


def test_v1_applies_net_cls_net_prio_hugetlb_where_mounted(tmp_path):
    mounts = {c: str(tmp_path / c) for c in ("net_cls", "net_prio", "hugetlb")}
    for d in mounts.values():
        os.makedirs(d)
    m = v1.Manager("/hull/c1", mounts=mounts)
    m.create()
    for c, name in (("net_cls", "net_cls.classid"), ("net_prio", "net_prio.ifpriomap"),
                    ("hugetlb", "hugetlb.2MB.limit_in_bytes")):
        put(f"{m.dirs[c]}/{name}", "0")
    assert m.apply(parse(NET_AND_HUGE)) == []
    assert get(f"{m.dirs['net_cls']}/net_cls.classid") == "1048577"
    assert get(f"{m.dirs['net_prio']}/net_prio.ifpriomap") == "eth0 5"
    assert get(f"{m.dirs['hugetlb']}/hugetlb.2MB.limit_in_bytes") == str(4 * MiB)
    with pytest.raises(CgroupError, match="no such file"):  # a page size this host does not have
        m.apply(parse({"hugepageLimits": [{"pageSize": "64KB", "limit": 1}]}))


@pytest.mark.parametrize("section", ["network", "hugepageLimits"])
def test_v1_refuses_a_limit_of_an_unmounted_controller(v1tree, section):
    m = v1.Manager("/hull/c1", mounts=v1tree)
    m.create()
    with pytest.raises(CgroupError, match="hierarchy is not mounted"):
        m.apply(parse({section: NET_AND_HUGE[section]}))


def test_v2_refuses_hugetlb_without_the_file(v2tree):
    m = v2.Manager("/hull/c1", root=v2tree)
    m.create()
    with pytest.raises(CgroupError, match="hugetlb.2MB.max"):
        m.apply(parse({"hugepageLimits": NET_AND_HUGE["hugepageLimits"]}))
    put(f"{m.dir}/hugetlb.2MB.max", "max")
    assert m.apply(parse({"hugepageLimits": NET_AND_HUGE["hugepageLimits"]})) == []
    assert get(f"{m.dir}/hugetlb.2MB.max") == str(4 * MiB)
