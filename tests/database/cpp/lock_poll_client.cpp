// The lock and polling cases of issue #17 driven by the cppTango 9.3 client library
// (Debian libtango-dev), against a device found through the database at TANGO_HOST.
// Usage: lock_poll_client <device>. Prints one line per check; exit status 1 on the first
// failure, with what was expected and what came.
#include <tango.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <thread>

static void check(bool ok, const std::string &what) {
    if (!ok) {
        std::cout << "FAIL " << what << std::endl;
        std::exit(1);
    }
    std::cout << "ok " << what << std::endl;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: lock_poll_client <device>" << std::endl;
        return 2;
    }
    try {
        Tango::DeviceProxy dev(argv[1]);

        // locking
        check(!dev.is_locked(), "not locked at first");
        dev.lock(5);
        check(dev.is_locked(), "is_locked after lock");
        check(dev.is_locked_by_me(), "is_locked_by_me");
        Tango::LockerInfo info;
        check(dev.get_locker(info), "get_locker");
        check(info.ll == Tango::CPP && info.li.LockerPid == getpid(), "locker is this process");
        Tango::DeviceAttribute w("doubleScalar", 6.5);
        dev.write_attribute(w);
        dev.unlock();
        check(!dev.is_locked(), "unlocked");

        // polling
        dev.poll_attribute("doubleScalar", 100);
        dev.poll_command("GetCount", 100);
        check(dev.is_attribute_polled("doubleScalar"), "attribute polled");
        check(dev.get_attribute_poll_period("doubleScalar") == 100, "attribute poll period");
        check(dev.get_command_poll_period("GetCount") == 100, "command poll period");
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        std::vector<Tango::DeviceAttributeHistory> *ah = dev.attribute_history("doubleScalar", 3);
        check(ah->size() == 3, "3 attribute history records");
        for (auto &h : *ah) {
            double v = 0;
            h >> v;
            check(!h.has_failed() && v == 6.5, "attribute history value 6.5");
        }
        delete ah;
        std::vector<Tango::DeviceDataHistory> *ch = dev.command_history("GetCount", 3);
        check(ch->size() == 3, "3 command history records");
        Tango::DevLong first = 0, v = 0;
        (*ch)[0] >> first;
        for (size_t i = 1; i < ch->size(); i++) {
            (*ch)[i] >> v;
            std::ostringstream what;
            what << "command history counts up (" << first << " then " << v << ")";
            check(v == first + static_cast<Tango::DevLong>(i), what.str());
        }
        delete ch;
        dev.stop_poll_attribute("doubleScalar");
        dev.stop_poll_command("GetCount");
        check(!dev.is_attribute_polled("doubleScalar"), "attribute no longer polled");
    } catch (Tango::DevFailed &e) {
        std::cout << "FAIL DevFailed " << e.errors[0].reason << ": " << e.errors[0].desc << std::endl;
        return 1;
    }
    std::cout << "ALL OK" << std::endl;
    return 0;
}
