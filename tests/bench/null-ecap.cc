// null-ecap: the cheapest possible eCAP REQMOD adapter, for
// tests/bench/bench-acl.sh. Loaded into squid (loadable_modules), it
// passes every request on unchanged at once (useVirgin) without looking
// at it. What squid spends on a request with it is the floor of squid's
// in-process adaptation path: the answer to "would an adapter inside
// squid decide faster than a helper?". C++ because libecap's API is C++;
// the bench script compiles it when libecap3-dev is installed. It is a
// measuring probe, not part of the product.
#include <libecap/common/autoconf.h>
#include <libecap/adapter/service.h>
#include <libecap/adapter/xaction.h>
#include <libecap/common/registry.h>
#include <libecap/host/xaction.h>
#include <ostream>

namespace
{

class NullService : public libecap::adapter::Service
{
  public:
    std::string uri() const override
    {
        return "ecap://egress-policy.invalid/bench/null";
    }
    std::string tag() const override
    {
        return "1";
    }
    void describe(std::ostream &os) const override
    {
        os << "null REQMOD adapter (benchmark)";
    }
    void configure(const libecap::Options &) override {}
    void reconfigure(const libecap::Options &) override {}
    bool wantsUrl(const char *) const override
    {
        return true;
    }
    MadeXactionPointer makeXaction(libecap::host::Xaction *hostx) override;
};

class NullXaction : public libecap::adapter::Xaction
{
  public:
    explicit NullXaction(libecap::host::Xaction *hostx) : hostx_(hostx) {}
    const libecap::Area option(const libecap::Name &) const override
    {
        return libecap::Area();
    }
    void visitEachOption(libecap::NamedValueVisitor &) const override {}
    void start() override
    {
        libecap::host::Xaction *hostx = hostx_;

        hostx_ = nullptr; // squid may end the transaction inside useVirgin()
        hostx->useVirgin();
    }
    void stop() override
    {
        hostx_ = nullptr;
    }
    void abDiscard() override {}
    void abMake() override {}
    void abMakeMore() override {}
    void abStopMaking() override {}
    libecap::Area abContent(libecap::size_type, libecap::size_type) override
    {
        return libecap::Area();
    }
    void abContentShift(libecap::size_type) override {}
    void noteVbContentDone(bool) override {}
    void noteVbContentAvailable() override {}

  private:
    libecap::host::Xaction *hostx_;
};

NullService::MadeXactionPointer NullService::makeXaction(libecap::host::Xaction *hostx)
{
    return MadeXactionPointer(new NullXaction(hostx));
}

const bool registered = libecap::RegisterVersionedService(new NullService);

} // namespace
